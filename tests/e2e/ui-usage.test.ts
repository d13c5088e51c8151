import { describe, expect, it } from 'vitest';
import { chromiumForFile } from '../helpers/browser.ts';
import { agentOn, meteredDouble } from '../helpers/chatty-agent.ts';
import { openViewer, startViewer } from '../helpers/run-viewer.ts';

const browser = chromiumForFile();

describe('the run viewer shows what a run spent', () => {
  it("a run's tokens, cost and budget beside its status, and each attempt's in the step panel", async () => {
    const { double } = await meteredDouble();
    const v = await startViewer({ agents: [], agentUrls: await agentOn(double, 'chatty', 'test-model', []) });
    const steps = ['s1', 's2', 's3'].map((id, i) => ({ id, agent: 'chatty', input: {}, ...(i ? { depends_on: [`s${i}`] } : {}) }));
    const submitted = await v.call('/orchestrate', { description: 'three questions on a budget', plan: { steps }, budget: { tokens: 39 } });
    const id = submitted.body.task_id as string;
    const w = await openViewer(browser(), v, v.readKey, `/ui/runs/${id}`);
    const { page } = w;
    await page.locator('section.run[data-status="failed"]').waitFor({ timeout: 30_000 });
    // 14 + 26 tokens from the double; test-model has no price in the default table.
    await expect.poll(() => page.locator('.run-meta').textContent()).toContain('40 tokens, $0.00 + unknown · budget 39 tokens');
    await page.locator('[data-step-button="s2"]').click();
    await expect
      .poll(() => page.locator('details.attempt[data-attempt="1"] summary').textContent())
      .toMatch(/Attempt 1: succeeded · .* · 26 tokens, \$0\.00 \+ unknown$/);
    expect(w.problems).toEqual([]);
  }, 60_000);
});
