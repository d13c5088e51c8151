import { describe, expect, it } from 'vitest';
import { documentationAgent } from '../../../agents/documentation/index.ts';
import { TaskFailedError } from '../../../agents/sdk/index.ts';
import { fakeContext } from '../../helpers/agent-context.ts';

type DocsOutput = { markdown: string; files: Array<{ path: string; content: string }>; symbols: number; summary: string };

async function document(files: Array<{ path: string; content: string }>, extra: Record<string, unknown> = {}): Promise<DocsOutput> {
  return (await documentationAgent.execute({ files, ...extra }, fakeContext())) as DocsOutput;
}

const math = {
  path: 'src/math.ts',
  content: `/**
 * Adds two numbers.
 * @param a - the first addend
 * @param b the second addend
 * @returns the sum of a and b
 * @example
 * add(1, 2); // 3
 */
export function add(a: number, b = 2): number {
  return a + b;
}

export const double = (n: number) => n * 2;

/** The answer to everything. */
export const ANSWER = 42;

function internalHelper(): void {}
`,
};

const shapes = {
  path: 'src/shapes.ts',
  content: `/** Something with an area. */
export interface Shape {
  /** Area in square metres. */
  area(): number;
  readonly label?: string;
}

/** Colours a shape may have. */
export enum Color { Red, Green = 'green' }

export type Pair<T> = [T, T];

/** A circle. */
export class Circle implements Shape {
  /** How many circles exist. */
  static count = 0;
  #cache = 0;
  private secretState = 1;
  /** Makes a circle. */
  constructor(readonly radius: number) {}
  area(): number { return Math.PI * this.radius ** 2; }
  protected hidden(): void {}
}
`,
};

describe('documentation agent', () => {
  it('documents function signatures with their JSDoc text', async () => {
    const out = await document([math]);
    expect(out.markdown).toContain('function add(a: number, b?: number): number');
    expect(out.markdown).toContain('Adds two numbers.');
    expect(out.markdown).toContain('| `a` | `number` | the first addend |');
    expect(out.markdown).toContain('| `b` *(optional)* | `number` | the second addend |');
    expect(out.markdown).toContain('**Returns** `number` — the sum of a and b');
    expect(out.markdown).toContain('```ts\nadd(1, 2); // 3\n```');
    // Inferred types come from the checker, not from the source text.
    expect(out.markdown).toContain('function double(n: number): number');
    expect(out.markdown).toContain('const ANSWER: 42');
    expect(out.markdown).toContain('The answer to everything.');
    expect(out.markdown).not.toContain('internalHelper');
    expect(out.symbols).toBe(3);
    expect((out as unknown as { llm: unknown }).llm).toEqual({ used: false, reason: 'no model configured' });
  });

  it('documents classes, interfaces, type aliases and enums without private members', async () => {
    const { markdown } = await document([shapes]);
    expect(markdown).toContain('class Circle implements Shape');
    expect(markdown).toContain('new Circle(radius: number)');
    expect(markdown).toContain('| `static count: number` | How many circles exist. |');
    expect(markdown).toContain('| `area(): number` |');
    expect(markdown).toContain('| `readonly radius: number` |');
    expect(markdown).not.toMatch(/cache|secretState|hidden/);
    expect(markdown).toContain('interface Shape');
    expect(markdown).toContain('| `area(): number` | Area in square metres. |');
    expect(markdown).toContain('| `readonly label?: string` |');
    expect(markdown).toContain('type Pair<T> = [T, T];');
    expect(markdown).toContain('| `Green = "green"` |');
    expect(markdown).toContain('Colours a shape may have.');
  });

  it('renders the same Markdown whatever the input order, and writes it to output_path', async () => {
    const index = { path: 'src/index.ts', content: "export { add } from './math.ts';\n" };
    const first = await document([math, shapes, index], { output_path: 'docs/reference.md', title: 'Shapes API' });
    const second = await document([index, shapes, math], { output_path: 'docs/reference.md', title: 'Shapes API' });
    expect(second.markdown).toBe(first.markdown);
    expect(first.files).toEqual([{ path: 'docs/reference.md', content: first.markdown }]);
    expect(first.markdown.startsWith('# Shapes API\n')).toBe(true);
    expect(first.markdown.indexOf('## `src/index.ts`')).toBeLessThan(first.markdown.indexOf('## `src/math.ts`'));
    expect(first.markdown).toContain('- `add` from [`src/math.ts`](#srcmathts)');
    expect(first.summary).toContain('docs/reference.md');
  });

  it('leaves test files out and reads upstream files from dependencies', async () => {
    const ctx = fakeContext({
      dependencies: { dev: { files: [math, { path: 'src/math.test.ts', content: 'export const fixture = 1;\n' }] } },
    });
    const out = (await documentationAgent.execute({ task: 'write api docs' }, ctx)) as DocsOutput;
    expect(out.files[0]!.path).toBe('docs/API.md');
    expect(out.markdown).toContain('function add(');
    expect(out.markdown).not.toContain('fixture');
  });

  it('fails the task when there is no source or the output path is unsafe', async () => {
    await expect(document([{ path: 'notes.md', content: 'hi' }])).rejects.toThrow(TaskFailedError);
    await expect(document([math], { output_path: '../../etc/API.md' })).rejects.toThrow(/unsafe output_path/);
    await expect(documentationAgent.execute({}, fakeContext())).rejects.toThrow(/no files/);
  });

  it('refuses a task that asks for another kind of document instead of answering it with an API reference', async () => {
    await expect(document([math], { task: 'Update the README' })).rejects.toThrow(
      /documentation writes an API reference of the code's exports \(Markdown\), and this asks for a README/,
    );
    await expect(document([math], { task: 'Translate the docs to French' })).rejects.toThrow(/asks for a translation/);
    await expect(document([math], { task: 'Add JSDoc comments to the functions' })).rejects.toThrow(/asks for comments in the code/);
    expect(
      await documentationAgent.check!(
        { task: 'Write a tutorial for the API', files: [math] },
        { description: undefined, upstream: [], modelAvailable: false },
      ),
    ).toMatchObject({ verdict: 'refused', fix: expect.stringContaining('output_path') });
    // Told where it goes, the reference goes there; API docs asked for in other words are still API docs.
    expect((await document([math], { task: 'Update the README', output_path: 'README.md' })).files[0]!.path).toBe('README.md');
    expect((await document([math], { task: 'Explain the exports' })).symbols).toBeGreaterThan(0);
  });
});
