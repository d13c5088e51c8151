import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { defineAgent } from '../../agents/sdk/index.ts';
import { chromiumForFile, expectAccessible, screenshot } from '../helpers/browser.ts';
import { openViewer, startViewer } from '../helpers/run-viewer.ts';
import { testAgents } from '../helpers/test-agents.ts';

const chain = {
  steps: [
    { id: 'a', agent: 'math', input: { values: [1, 2] } },
    { id: 'b', agent: 'math', input: { values: [10] }, depends_on: ['a'] },
    { id: 'c', agent: 'math', input: { values: [100] }, depends_on: ['b'] },
    { id: 'd', agent: 'clock', input: { label: 'report' }, depends_on: ['c'] },
  ],
};

// Reports when it ran and how long it took, as a test runner's log does: run again, only those differ.
const clock = defineAgent({
  name: 'clock',
  description: 'stamps a label with when it ran',
  capabilities: ['stamp a label'],
  execute: async (input: { label?: string }) => {
    const started = performance.now();
    await sleep(5 + Math.floor(Math.random() * 20));
    return { label: input.label, finished_at: new Date().toISOString(), took_ms: Math.round((performance.now() - started) * 1000) / 1000 };
  },
});

const browser = chromiumForFile();

describe('fork and compare in the run viewer', () => {
  it('forks a finished run from a step with an input patch, links the two runs both ways and compares them', async () => {
    const { log, agents } = testAgents();
    const v = await startViewer({ agents: [...agents, clock] });
    const parent = await v.call('/orchestrate', { plan: chain, wait: true });
    expect(parent.body.status).toBe('succeeded');
    const parentId = parent.body.task_id as string;
    const w = await openViewer(browser(), v, v.submitKey, `/ui/runs/${parentId}`);
    const { page } = w;
    await page.locator('section.run[data-status="succeeded"]').waitFor({ timeout: 30_000 });

    await page.getByLabel('Fork from step').selectOption('b');
    await page.getByLabel('Changes to its input (a JSON merge patch, optional)').fill('{"values": [1000]}');
    await page.getByRole('button', { name: 'Fork', exact: true }).click();
    await page.getByText('Forked from').waitFor({ timeout: 15_000 });
    await page.locator('section.run[data-status="succeeded"]').waitFor({ timeout: 30_000 });
    const forkId = /\/ui\/runs\/([0-9a-f-]+)$/.exec(page.url())![1]!;
    expect(forkId).not.toBe(parentId);
    expect(log.runs.filter((r) => r.key.startsWith(`${forkId}:`) && r.agent === 'math').map((r) => r.step)).toEqual(['b', 'c']);
    await expect.poll(() => page.locator('[data-step-button="a"]').textContent()).toContain('reused');
    await expectAccessible(page, 'A fork');

    await page.getByRole('link', { name: 'Compare with it' }).click();
    await page.getByRole('heading', { name: 'Compare two runs' }).waitFor();
    const verdict = (step: string) => page.locator(`table.compare-steps tbody tr:has(th:text-is("${step}"))`).getAttribute('data-verdict');
    await expect.poll(() => verdict('a')).toBe('reused');
    expect(await verdict('b')).toBe('changed');
    expect(await verdict('c')).toBe('changed');
    // d ran again and only its timings differ: the same result, with the timing paths named.
    expect(await verdict('d')).toBe('unchanged');
    const timings = await page.locator('table.compare-steps tbody tr:has(th:text-is("d")) [data-timings]').textContent();
    expect(timings?.replace(/, /g, ' ').split(' ').sort()).toEqual(['/finished_at', '/took_ms', 'at', 'differ', 'only', 'timings']);
    expect(await page.locator('table.compare-steps tbody tr:has(th:text-is("b"))').textContent()).toContain('/sum changed from 13 to 1003');
    await expectAccessible(page, 'Compare');
    await screenshot(page, 'compare');

    // The parent lists its fork.
    await page.getByRole('link', { name: parentId }).click();
    await page.getByRole('list', { name: 'Forks of this run' }).getByRole('link', { name: forkId }).waitFor();
    expect(w.problems, 'console errors, CSP violations, page errors or dialogs').toEqual([]);
  }, 120_000);
});
