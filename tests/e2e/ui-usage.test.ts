import { describe, expect, it } from 'vitest';
import { startChatDouble } from '../doubles/openai-chat-double.ts';
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

  it('what planning the description cost, within the run’s total', async () => {
    const { double } = await meteredDouble();
    const planner = await startChatDouble();
    const plan = { steps: [{ id: 'ask', agent: 'chatty', task: 'ask once', depends_on: [] }] };
    planner.script({ content: JSON.stringify(plan), usage: { prompt_tokens: 900, completion_tokens: 100 } });
    const v = await startViewer({
      agents: [],
      agentUrls: await agentOn(double, 'chatty', 'test-model', []),
      env: { LLM_BASE_URL: planner.baseUrl, LLM_MODEL: 'planner-model', LLM_MAX_RETRIES: '0' },
    });
    const submitted = await v.call('/orchestrate', { description: 'ask the model once' });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const w = await openViewer(browser(), v, v.readKey, `/ui/runs/${submitted.body.task_id as string}`);
    await w.page.locator('section.run[data-status="succeeded"]').waitFor({ timeout: 30_000 });
    // 1,000 tokens planning and 14 from the step's one call; neither model is priced by default.
    await expect
      .poll(() => w.page.locator('.run-meta').textContent())
      .toContain('1,014 tokens, $0.00 + unknown (planning 1,000 tokens, $0.00 + unknown)');
    expect(w.problems).toEqual([]);
  }, 60_000);
});
