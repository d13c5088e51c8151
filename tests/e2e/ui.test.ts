import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { defineAgent } from '../../agents/sdk/index.ts';
import { documentationAgent } from '../../agents/documentation/index.ts';
import { featureDevAgent } from '../../agents/feature-dev/index.ts';
import { infrastructureAgent } from '../../agents/infrastructure/index.ts';
import { chromiumForFile, expectAccessible, screenshot, type WatchedPage } from '../helpers/browser.ts';
import { openViewer, startViewer, type Viewer } from '../helpers/run-viewer.ts';
import { testAgents } from '../helpers/test-agents.ts';

const readmeExample = 'Build feature slugify utility AND deploy infrastructure for a redis cache then document it';
// What an agent might return when a model echoes a hostile page: it must reach the screen as text.
const hostile = '<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2;alert(2)</script>';

const gateWorkflow = `name: release_gate
description: Add the numbers, ask a person, then ship or roll back.
inputs:
  values: 'Numbers to add, e.g. [1, 2]'
steps:
  - id: build
    agent: math
    input:
      values: "{{input.values}}"
  - id: gate
    type: approval
    prompt: Ship it?
    depends_on: [build]
    on_approval: ship
    on_rejection: rollback
  - id: ship
    agent: math
    depends_on: [gate]
    input:
      values: [1]
  - id: rollback
    agent: math
    depends_on: [gate]
    input:
      values: [2]
`;

const echoAgent = defineAgent({
  name: 'echo',
  description: 'returns what it is given, as a page would',
  capabilities: ['echo text'],
  execute: async (input: { text?: string }) => ({ html: input.text ?? '', length: (input.text ?? '').length }),
});

const browser = chromiumForFile();

const viewer = () =>
  startViewer({
    agents: [featureDevAgent, infrastructureAgent, documentationAgent, ...testAgents().agents, echoAgent],
    workflows: { release_gate: gateWorkflow },
  });
const open = (v: Viewer, key: string, path?: string) => openViewer(browser(), v, key, path);

const runStatus = (page: Page, status: string) => page.locator(`section.run[data-status="${status}"]`).waitFor({ timeout: 60_000 });
const noProblems = (w: WatchedPage) => expect(w.problems, 'console errors, CSP violations, page errors or dialogs').toEqual([]);

describe('the run viewer at /ui in Chromium', () => {
  it('logs in with a key, plans the README example, runs it, turns the graph green and shows a step output; every page passes axe', async () => {
    const v = await viewer();
    const w = await open(v, v.submitKey);
    const { page } = w;
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    await expectAccessible(page, 'Runs (empty)');

    await page.getByRole('link', { name: 'Submit' }).click();
    await page.getByLabel('Description', { exact: true }).fill(readmeExample);
    await page.getByRole('button', { name: 'Plan it' }).click();
    await page.getByRole('heading', { name: 'The plan' }).waitFor();
    // The plan is drawn before anything runs: every step is pending.
    const planned = page.locator('.planned .step-node');
    expect(await planned.count()).toBeGreaterThanOrEqual(3);
    expect(new Set(await planned.evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-state'))))).toEqual(new Set(['pending']));
    await expectAccessible(page, 'Submit with a plan');
    await screenshot(page, 'submit');

    await page.getByRole('button', { name: 'Run it' }).click();
    await runStatus(page, 'succeeded');
    const nodes = page.locator('.graph .step-node');
    await expect
      .poll(() => nodes.evaluateAll((n) => n.map((e) => e.getAttribute('data-state'))), { timeout: 10_000 })
      .toEqual(Array((await nodes.count()) || 1).fill('succeeded'));
    const agents = await nodes.locator('.agent').allTextContents();
    expect(new Set(agents)).toEqual(new Set(['feature-dev', 'infrastructure', 'documentation']));

    // A step's attempts: its key and its output, as collapsible JSON.
    const first = await page.locator('[data-step-button]').first().getAttribute('data-step-button');
    await page.locator(`[data-step-button="${first}"]`).click();
    const panel = page.locator('.step-panel');
    await expect.poll(() => panel.getByTestId('step-state').textContent()).toBe('succeeded');
    await expect.poll(() => panel.locator('details.attempt[data-attempt="1"] code').textContent()).toMatch(new RegExp(`:${first}:1$`));
    await panel.getByRole('heading', { name: 'Output' }).waitFor();
    const output = await panel
      .locator('.json')
      .filter({ has: page.getByRole('heading', { name: 'Output' }) })
      .textContent();
    expect(output?.length).toBeGreaterThan(10);
    await page.locator('.timeline rect').first().waitFor();
    await expectAccessible(page, 'One run');
    await screenshot(page, 'run');

    await page.getByRole('link', { name: 'Runs' }).click();
    await page.locator('table.runs tbody tr').first().waitFor();
    await expect.poll(() => page.locator('table.runs tbody tr').first().textContent()).toContain(readmeExample);
    await page.getByLabel('Description contains').fill('SLUGIFY');
    await expect.poll(() => page.locator('table.runs tbody tr').count()).toBe(1);
    await page.getByLabel('Description contains').fill('no run says this');
    await page.getByText('No runs match').waitFor();
    await page.getByLabel('Description contains').fill('');
    await expectAccessible(page, 'Runs');
    await screenshot(page, 'runs');

    await page.getByRole('link', { name: 'Agents' }).click();
    await page.locator('tr[data-agent="feature-dev"]').waitFor();
    expect(await page.locator('tr[data-agent="feature-dev"]').textContent()).toContain('up');
    await expectAccessible(page, 'Agents');
    await screenshot(page, 'agents');
    noProblems(w);
  }, 180_000);

  it('shows a new run in the list without a reload, approves a waiting step of a named workflow and shows the branch taken', async () => {
    const v = await viewer();
    const w = await open(v, v.submitKey);
    const { page } = w;
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    const submitted = await v.call('/orchestrate', { workflow: 'release_gate', input: { values: [2, 3] } });
    expect(submitted.status).toBe(202);
    const id = submitted.body.task_id as string;
    const row = page.locator(`tr[data-task-id="${id}"]`);
    await row.waitFor({ timeout: 15_000 });
    await row.getByRole('link').click();

    await page.locator('.step-node[data-step="gate"][data-state="waiting"]').waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Approve gate' }).click();
    await page.getByLabel('Comment (optional)').fill('ship it');
    await page.locator('[data-confirm="approve"]').click();
    await runStatus(page, 'succeeded');
    await page.locator('.step-node[data-step="ship"][data-state="succeeded"]').waitFor();
    await page.locator('.step-node[data-step="rollback"][data-state="skipped"]').waitFor();
    await expect.poll(() => page.locator('.react-flow__edge.branch.taken').count()).toBe(1);
    expect(await page.locator('.react-flow__edge.branch.taken').getAttribute('data-id')).toBe('branch:on_approval:gate->ship');
    await page.getByText(/approved: on_approval route ship/).waitFor();
    noProblems(w);
  }, 120_000);

  it('makes a schedule, runs it now, pauses, resumes and deletes it; a description no agent can do shows the 422', async () => {
    const v = await viewer();
    const w = await open(v, v.submitKey, '/ui/schedules');
    const { page } = w;
    await page.getByText('No schedules yet').waitFor();
    const make = async (name: string, description: string) => {
      await page.getByLabel('Name', { exact: true }).fill(name);
      await page.getByLabel('Cron (min hour day month weekday)').fill('0 3 * * *');
      await page.getByLabel('Description', { exact: true }).fill(description);
      await page.getByLabel('Input (JSON object, optional)').fill('{"values": [1, 2]}');
      await page.getByRole('button', { name: 'Make schedule' }).click();
    };
    await make('nightly-nonsense', 'asdf qwer zxcv');
    await expect.poll(() => page.getByTestId('schedule-error').textContent()).toContain('no agent can do "asdf qwer zxcv"');
    await make('sums', 'add numbers');
    const row = page.locator('tr[data-schedule="sums"]');
    await row.waitFor();
    expect(await row.textContent()).toContain('add numbers');
    expect((await v.call('/schedules')).body.schedules.map((s: { name: string }) => s.name)).toEqual(['sums']);
    await expectAccessible(page, 'Schedules');
    await screenshot(page, 'schedules');

    const confirmed = async (action: string) => {
      await row.locator(`[data-action="${action}"]`).click();
      await page.locator(`[data-confirm="${action}"]`).click();
    };
    await confirmed('pause');
    await page.locator('tr[data-schedule="sums"][data-enabled="false"]').waitFor();
    expect((await v.call('/schedules/sums')).body).toMatchObject({ enabled: false, next_run_at: null });
    await confirmed('resume');
    await page.locator('tr[data-schedule="sums"][data-enabled="true"]').waitFor();

    await confirmed('trigger');
    await page.waitForURL(/\/ui\/runs\//);
    await runStatus(page, 'succeeded');
    const runId = page.url().split('/').at(-1)!;
    expect(await page.getByTestId('run-schedule').textContent()).toBe('Started by the schedule sums, run by hand (Run now)');
    await page.getByRole('link', { name: 'Schedules' }).click();
    await row.locator(`a[href="/ui/runs/${runId}"]`).waitFor();
    // The schedule's runs: the runs page filtered by it, each run naming it.
    await row.locator('[data-action="runs"]').click();
    await page.waitForURL(/\/ui\/\?schedule=sums$/);
    await page.getByText('Started by the schedule sums').waitFor();
    await page.locator(`tr[data-task-id="${runId}"]`).waitFor();
    expect(await page.locator('tr[data-task-id]').count()).toBe(1);
    expect(await page.locator(`tr[data-task-id="${runId}"]`).textContent()).toContain('schedule sums');
    await page.getByRole('link', { name: 'all runs' }).click();
    await page.waitForURL(/\/ui\/$/);
    await expect.poll(() => page.getByText('Started by the schedule sums').count()).toBe(0);
    await page.locator(`tr[data-task-id="${runId}"]`).waitFor();
    await page.getByRole('link', { name: 'Schedules' }).click();
    await confirmed('delete');
    await expect.poll(() => row.count()).toBe(0);
    expect((await v.call('/schedules/sums')).status).toBe(404);
    expect((await v.call(`/tasks/${runId}`)).body.status).toBe('succeeded');
    noProblems(w);
  }, 120_000);

  it('cancels a running run after asking', async () => {
    const v = await viewer();
    const submitted = await v.call('/orchestrate', {
      description: 'a slow sum to cancel',
      plan: { steps: [{ id: 'slow', agent: 'math', input: { values: [1], ms: 30_000 } }] },
    });
    const id = submitted.body.task_id as string;
    const w = await open(v, v.submitKey, `/ui/runs/${id}`);
    const { page } = w;
    await page.locator('.step-node[data-step="slow"][data-state="running"]').waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await page.getByText('Cancel this run?').waitFor();
    await page.locator('[data-confirm="cancel"]').click();
    await runStatus(page, 'cancelled');
    expect((await v.call(`/tasks/${id}`)).body.status).toBe('cancelled');
    noProblems(w);
  }, 60_000);

  it('shows agent output holding HTML and script as text: no element made, no script run, no dialog', async () => {
    const v = await viewer();
    const submitted = await v.call('/orchestrate', {
      description: hostile,
      plan: { steps: [{ id: 'echo', agent: 'echo', input: { text: hostile } }] },
      wait: true,
    });
    expect(submitted.body.status).toBe('succeeded');
    const w = await open(v, v.submitKey, `/ui/runs/${submitted.body.task_id}`);
    const { page } = w;
    await runStatus(page, 'succeeded');
    await page.locator('[data-step-button="echo"]').click();
    await page.locator('.step-panel').getByRole('heading', { name: 'Output' }).waitFor();
    await expect.poll(() => page.locator('.step-panel').textContent()).toContain(`html:"${hostile}"`);
    expect(await page.locator('h1').textContent()).toBe(hostile);
    expect(await page.locator('main img, main script').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss)).toBeUndefined();
    await page.getByRole('link', { name: 'Runs' }).click();
    await page.locator('table.runs tbody tr').first().waitFor();
    expect(await page.locator('main img, main script').count()).toBe(0);
    noProblems(w);
  }, 60_000);

  it('lets a read-only key look, and shows the 403 of every action it tries', async () => {
    const v = await viewer();
    const waiting = (await v.call('/orchestrate', { workflow: 'release_gate', input: { values: [1] } })).body.task_id as string;
    const planned = (await v.call('/orchestrate', { workflow: 'release_gate', input: { values: [1] }, execute: false })).body
      .task_id as string;
    const failed = (
      await v.call('/orchestrate', {
        plan: { steps: [{ id: 'bad', agent: 'flaky', input: { fail_attempts: 9, retryable: false } }] },
        wait: true,
      })
    ).body.task_id as string;
    const w = await open(v, v.readKey);
    const { page } = w;
    const refusals: Array<{ url: string; status: number }> = [];
    page.on('response', (res) => {
      if (res.request().method() === 'POST') refusals.push({ url: new URL(res.url()).pathname, status: res.status() });
    });
    await page.locator(`tr[data-task-id="${waiting}"]`).waitFor();
    // A failed run says why in the list and on its page, in words: its code and message, not its JSON.
    const why = 'STEPS_FAILED: step "bad" (flaky) failed: attempt 1 refused';
    expect(await page.locator(`tr[data-task-id="${failed}"] .run-error`).textContent()).toBe(why);
    // Sent as a plan, without a description, it is named by its steps.
    expect(await page.locator(`tr[data-task-id="${failed}"] a`).textContent()).toBe('plan: bad');

    const refused = async (action: string, path: string) => {
      const before = refusals.length;
      await page.locator(`[data-action="${action}"]`).click();
      // The answer itself, not the error text: the previous action's refusal says the same words.
      const answered = page.waitForResponse((res) => res.request().method() === 'POST' && new URL(res.url()).pathname === path);
      await page.locator(`[data-confirm="${action}"]`).click();
      expect((await answered).status()).toBe(403);
      const error = page.getByTestId('action-error');
      await expect.poll(() => error.textContent()).toContain('needs "submit"');
      await expect.poll(() => refusals.slice(before)).toEqual([{ url: path, status: 403 }]);
    };
    await page.goto(`/ui/runs/${waiting}`);
    await page.locator('.step-node[data-step="gate"][data-state="waiting"]').waitFor({ timeout: 30_000 });
    await refused('approve', `/tasks/${waiting}/approve`);
    await refused('reject', `/tasks/${waiting}/reject`);
    await refused('cancel', `/tasks/${waiting}/cancel`);
    await page.goto(`/ui/runs/${planned}`);
    await runStatus(page, 'planned');
    await refused('execute', `/execute/${planned}`);
    await page.goto(`/ui/runs/${failed}`);
    await runStatus(page, 'failed');
    expect(await page.getByTestId('run-error').textContent()).toBe(why);
    await refused('resume', `/resume/${failed}`);

    await page.goto('/ui/submit');
    await page.getByLabel('Description', { exact: true }).fill('add two numbers');
    const before = refusals.length;
    await page.getByRole('button', { name: 'Plan it' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('needs "submit"');
    await expect.poll(() => refusals.slice(before)).toEqual([{ url: '/orchestrate', status: 403 }]);
    // Nothing the read-only key tried changed a run.
    expect((await v.call(`/tasks/${waiting}`)).body.status).toBe('waiting');
    expect((await v.call(`/tasks/${planned}`)).body.status).toBe('planned');
    noProblems(w);
  }, 120_000);
});
