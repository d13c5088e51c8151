import { describe, expect, it } from 'vitest';
import { documentationAgent } from '../../agents/documentation/index.ts';
import { fakeContext } from '../helpers/agent-context.ts';
import { json, llmOnDouble, malformed } from '../helpers/llm.ts';

type Out = { markdown: string; llm: Record<string, unknown>; summary: string };

const files = [
  { path: 'src/math.ts', content: '/** Adds two numbers. */\nexport function add(a: number, b: number): number {\n  return a + b;\n}\n' },
  { path: 'src/shapes.ts', content: '/** Something with an area. */\nexport interface Shape {\n  area(): number;\n}\n' },
];

describe('documentation with a model (chat completions double)', () => {
  it('adds one overview paragraph per file under its heading, leaving the reference as the checker reports it', async () => {
    const { double, llm } = await llmOnDouble();
    double.script(
      json({
        files: [
          { path: 'src/math.ts', overview: '## Arithmetic\nSmall arithmetic helpers:\n  `add` sums two numbers.' },
          { path: 'src/unknown.ts', overview: 'Not one of the files.' },
        ],
      }),
    );
    const offline = (await documentationAgent.execute({ files }, fakeContext())) as Out;
    const out = (await documentationAgent.execute({ files }, fakeContext({ llm }))) as Out;
    expect(out.llm).toEqual({ used: true, model: 'test-model', overviews: 1 });
    expect(out.markdown).toContain('## `src/math.ts`\n\nArithmetic Small arithmetic helpers: `add` sums two numbers.\n\n### Functions');
    expect(out.markdown.replace('Arithmetic Small arithmetic helpers: `add` sums two numbers.\n\n', '')).toBe(offline.markdown);
    expect(out.summary).toMatch(/with overviews of 1 file by test-model$/);

    const prompt = double.calls[0]!.messages[1]!.content;
    expect(prompt).toContain('=== src/math.ts ===\nExports:\n- function add: Adds two numbers.');
    expect(prompt).toContain('=== src/shapes.ts ===');
    expect(double.calls[0]!.response_format?.json_schema?.name).toBe('file_overviews');
  });

  it('renders the offline reference when the model answer is malformed, saying why', async () => {
    const { double, llm } = await llmOnDouble();
    double.script(...malformed);
    const offline = (await documentationAgent.execute({ files }, fakeContext())) as Out;
    const out = (await documentationAgent.execute({ files }, fakeContext({ llm }))) as Out;
    expect(out.llm).toEqual({ used: false, reason: expect.stringMatching(/^LLM_OUTPUT_INVALID: .*file_overviews/) });
    expect(out.markdown).toBe(offline.markdown);
    expect(offline.llm).toEqual({ used: false, reason: 'no model configured' });
  });
});
