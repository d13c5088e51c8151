export interface Passage {
  heading: string;
  content: string;
}

const MAX_CHARS = 1_200;

/**
 * Splits Markdown into passages a search result can show whole: one per section (its heading path,
 * "Guide > Install"), long sections cut at paragraph breaks. Code fences are never cut.
 */
export function splitMarkdown(text: string): Passage[] {
  const passages: Passage[] = [];
  const path: string[] = [];
  let buffer: string[] = [];
  let inFence = false;

  const flush = () => {
    const body = buffer.join('\n').trim();
    buffer = [];
    if (!body) return;
    const heading = path.filter(Boolean).join(' > ');
    for (const chunk of chunks(body)) passages.push({ heading, content: chunk });
  };

  for (const line of text.split(/\r?\n/)) {
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    const h = !inFence && /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      flush();
      const level = h[1].length;
      path.length = level - 1;
      path[level - 1] = h[2]!;
      continue;
    }
    buffer.push(line);
  }
  flush();
  return passages;
}

export function splitText(text: string): Passage[] {
  return chunks(text.trim()).map((content) => ({ heading: '', content }));
}

function chunks(body: string): string[] {
  if (body.length <= MAX_CHARS) return [body];
  const out: string[] = [];
  let current = '';
  for (const para of body.split(/\n{2,}/)) {
    if (current && current.length + para.length + 2 > MAX_CHARS) {
      out.push(current);
      current = '';
    }
    current = current ? `${current}\n\n${para}` : para;
  }
  if (current) out.push(current);
  return out;
}

export function titleOf(text: string, fallback: string): string {
  return /^#\s+(.+)$/m.exec(text)?.[1]?.trim() ?? fallback;
}
