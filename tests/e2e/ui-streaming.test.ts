import { describe, expect, it, onTestFinished } from 'vitest';
import { documentationAgent } from '../../agents/documentation/index.ts';
import { buildAgentApp } from '../../agents/sdk/index.ts';
import { loadConfig } from '../../services/config/index.ts';
import { startChatDouble } from '../doubles/openai-chat-double.ts';
import { chromiumForFile } from '../helpers/browser.ts';
import { listenOnLoopback } from '../helpers/platform.ts';
import { openViewer, startViewer } from '../helpers/run-viewer.ts';

const browser = chromiumForFile();

const source = { path: 'src/slugify.ts', content: 'export function slugify(text: string): string {\n  return text.toLowerCase();\n}\n' };
const overview =
  'Turns any title into a lowercase slug that is safe to use in a URL, keeping letters and digits and joining the words with dashes so links stay readable.';

describe('the run viewer shows a model answer as it is written', () => {
  it('tokens streamed by the model (the chat double) appear in the step before it ends', async () => {
    // The documentation agent with a model: the double streams the answer a word every 150 ms.
    const double = await startChatDouble({ chunkDelayMs: 150 });
    double.script({ content: JSON.stringify({ files: [{ path: source.path, overview }] }) });
    const llm = loadConfig({ LLM_BASE_URL: double.baseUrl, LLM_MODEL: 'test-model', LLM_MAX_RETRIES: '0' }).llm;
    const agent = buildAgentApp(documentationAgent, { logLevel: 'silent', shutdownGraceMs: 500, llm });
    onTestFinished(() => agent.close());
    const v = await startViewer({ agents: [], agentUrls: `documentation=${await listenOnLoopback(agent)}` });

    // Planned only: the page is open and following the run before the model writes a word
    // (progress is live only; what was sent before the page listened is not sent again).
    const submitted = await v.call('/orchestrate', {
      description: 'document slugify',
      plan: { steps: [{ id: 'docs', agent: 'documentation', input: { files: [source] } }] },
      execute: false,
    });
    expect(submitted.status).toBe(202);
    const w = await openViewer(browser(), v, v.submitKey, `/ui/runs/${submitted.body.task_id}`);
    const { page } = w;
    await page.locator('section.run[data-status="planned"]').waitFor();
    await page.locator('[data-step-button="docs"]').click();
    await page.locator('[data-action="execute"]').click();
    await page.locator('[data-confirm="execute"]').click();

    // Seen together in one look at the page: part of the answer, and the step still running.
    const stream = page.getByTestId('step-stream');
    await expect
      .poll(
        async () => {
          const [text, state] = await Promise.all([
            stream.textContent({ timeout: 500 }).catch(() => ''),
            page.getByTestId('step-state').textContent(),
          ]);
          return state === 'running' && text?.includes('Turns any title') ? text : '';
        },
        { timeout: 30_000, interval: 50 },
      )
      .not.toBe('');
    const partial = (await stream.textContent()) ?? '';
    expect(partial).not.toContain('readable.');

    await page.locator('section.run[data-status="succeeded"]').waitFor({ timeout: 30_000 });
    // Every piece arrived, in order: the text the model wrote, whole.
    expect(await stream.textContent()).toBe(JSON.stringify({ files: [{ path: source.path, overview }] }));
    expect(w.problems).toEqual([]);
  }, 90_000);
});
