import { describe, expect, it } from 'vitest';
import { ProgressDisplay } from '../../services/cli/progress.ts';

function output(isTTY: boolean) {
  const written: string[] = [];
  const out = { isTTY, write: (s: string) => written.push(s) > 0 } as unknown as NodeJS.WriteStream;
  return { out, written };
}

const plan = { steps: [{ id: 'review', agent: 'code-review' }] };
const event = (type: string, data: Record<string, unknown> = {}) => ({
  id: '',
  event: type,
  data: { task_id: 't', type, step_id: 'review', attempt: 1, data },
});

describe('the CLI progress display and step_progress events', () => {
  it('in a log, writes status lines only, not a line per token', () => {
    const { out, written } = output(false);
    const display = new ProgressDisplay(plan, out);
    display.apply(event('step_started'));
    for (const text of ['{"comm', 'ents": ', '[]}']) display.apply(event('step_progress', { text }));
    display.apply(event('step_progress', { message: 'checking the answer', fraction: 0.9 }));
    display.apply(event('step_succeeded', { duration_ms: 12 }));
    expect(written.filter((l) => l.includes('step_progress'))).toEqual([
      expect.stringMatching(/step_progress review \(code-review\) checking the answer\n$/),
    ]);
    expect(written).toHaveLength(3);
  });

  it('in a log, stamps each line with when the event happened, not when it arrived', () => {
    const { out, written } = output(false);
    const display = new ProgressDisplay(plan, out);
    // Events from before the CLI connected arrive together; their lines must still show the step's 96 ms.
    const at = (type: string, createdAt: string, data: Record<string, unknown> = {}) => {
      const e = event(type, data);
      return { ...e, data: { ...e.data, created_at: createdAt } };
    };
    display.apply(at('step_started', '2026-12-03T13:26:34.521Z'));
    display.apply(at('step_progress', '2026-12-03T13:26:34.560Z', { message: 'linting' }));
    display.apply(at('step_succeeded', '2026-12-03T13:26:34.617Z', { duration_ms: 96 }));
    expect(written.map((l) => l.slice(0, 24))).toEqual([
      '2026-12-03T13:26:34.521Z',
      '2026-12-03T13:26:34.560Z',
      '2026-12-03T13:26:34.617Z',
    ]);
  });

  it('on a terminal, shows the latest status, how far along and how much text came, until the step ends', () => {
    const { out, written } = output(true);
    const display = new ProgressDisplay(plan, out);
    display.apply(event('step_started'));
    display.apply(event('step_progress', { message: 'asking the model', fraction: 0.5 }));
    display.apply(event('step_progress', { text: 'twelve chars' }));
    expect(written.at(-1)).toContain('running   asking the model — 50% — 12 characters written');
    display.apply(event('step_succeeded', { duration_ms: 12 }));
    expect(written.at(-1)).toContain('succeeded 12 ms');
  });
});
