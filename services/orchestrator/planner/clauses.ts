// A description as people write it, cut into what runs in order (stages) and what runs side by side
// within a stage (fragments). "A and B, then C" is [[A, B], [C]]; so is "A and B. C".

const THEN =
  /\s*(?:[,;]\s*)?\b(?:and\s+then|then|after\s+that|afterwards|finally|once\s+(?:that|it)\s+is\s+done|when\s+(?:that|it)\s+is\s+done)\b,?\s*|(?<=[\w)"'])[.;!]\s+(?=\S)|\s*(?:->|→)\s*/i;
const AND = /\s*(?:,\s*and\b|,\s*also\b|\band\s+also\b|\band\b|&|\s\+\s|,(?=\s)|\bas\s+well\s+as\b|\balong\s+with\b)\s*/i;

export function stagesOf(description: string): string[][] {
  return description
    .split(THEN)
    .map((stage) => stage.trim().replace(/[.!;,]+$/, ''))
    .filter(Boolean)
    .map((stage) =>
      stage
        .split(AND)
        .map((f) => f.trim())
        .filter(Boolean),
    )
    .filter((fragments) => fragments.length > 0);
}
