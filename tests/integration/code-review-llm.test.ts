import { describe, expect, it, onTestFinished } from 'vitest';
import { codeReviewAgent } from '../../agents/code-review/index.ts';
import { buildAgentApp } from '../../agents/sdk/index.ts';
import { loadConfig } from '../../services/config/index.ts';
import { startChatDouble } from '../doubles/openai-chat-double.ts';
import { fakeContext } from '../helpers/agent-context.ts';
import { json, llmOnDouble, malformed } from '../helpers/llm.ts';
import { metricValue } from '../helpers/metrics.ts';

type Out = Record<string, any>;

const divide = {
  path: 'src/divide.ts',
  content: 'export function divide(a: number, b: number): number {\n  return a / b;\n}\n',
};
const noisy = { path: 'src/log.ts', content: 'export function log(x: number): void {\n  console.info(x);\n}\n' };

describe('code-review with a model (chat completions double)', () => {
  it('adds the model comments as llm-review findings that count towards the decision', async () => {
    const { double, llm } = await llmOnDouble();
    double.script(
      json({
        comments: [
          { file: 'src/divide.ts', line: 2, severity: 'error', message: 'Dividing by zero returns Infinity;\n  reject b === 0.' },
          { file: './src/log.ts', line: 1, severity: 'info', message: 'Consider the logger.' },
          { file: 'src/ghost.ts', line: 1, severity: 'error', message: 'No such file.' },
          { file: 'src/divide.ts', line: 40, severity: 'warning', message: 'Past the end of the file.' },
        ],
      }),
    );
    const out = (await codeReviewAgent.execute({ files: [divide, noisy] }, fakeContext({ llm }))) as Out;
    expect(out.llm).toEqual({ used: true, model: 'test-model', comments: 2, dropped: 2 });
    expect(out.findings.filter((f: Out) => f.rule === 'llm-review')).toEqual([
      {
        file: 'src/divide.ts',
        line: 2,
        column: 1,
        rule: 'llm-review',
        severity: 'error',
        message: 'Dividing by zero returns Infinity; reject b === 0.',
      },
      { file: 'src/log.ts', line: 1, column: 1, rule: 'llm-review', severity: 'info', message: 'Consider the logger.' },
    ]);
    expect(out).toMatchObject({ approved: false, decision: 'rejected', counts: { error: 1, warning: 1, info: 1 } });
    expect(out.summary).toMatch(/; 2 comments from test-model$/);

    // The model saw numbered lines and the tools' findings, so it can point at lines and not repeat them.
    const prompt = double.calls[0]!.messages[1]!.content;
    expect(prompt).toContain('=== src/divide.ts ===\n   1| export function divide(a: number, b: number): number {');
    expect(prompt).toContain('src/log.ts:2:3 warning no-console Unexpected console statement.');
    expect(double.calls[0]!.response_format?.json_schema?.name).toBe('code_review_comments');
  });

  it('keeps the offline review when the model answer is malformed, saying why', async () => {
    const { double, llm } = await llmOnDouble();
    double.script(...malformed);
    const out = (await codeReviewAgent.execute({ files: [divide, noisy] }, fakeContext({ llm }))) as Out;
    expect(out.llm).toEqual({ used: false, reason: expect.stringMatching(/^LLM_OUTPUT_INVALID: .*code_review_comments/) });
    expect(out).toMatchObject({ approved: true, counts: { error: 0, warning: 1, info: 0 } });
    expect(out.findings.map((f: Out) => f.rule)).toEqual(['no-console']);
  });

  it('counts findings by severity in code_review_findings, model comments included', async () => {
    const double = await startChatDouble();
    const app = buildAgentApp(codeReviewAgent, {
      logLevel: 'silent',
      llm: loadConfig({ LLM_BASE_URL: double.baseUrl, LLM_MAX_RETRIES: '0' }).llm,
    });
    onTestFinished(() => app.close());
    double.script(json({ comments: [{ file: 'src/divide.ts', line: 2, severity: 'warning', message: 'b may be 0' }] }));
    const payload = {
      idempotency_key: 'k-1',
      task_id: 't-1',
      step_id: 's-1',
      attempt: 1,
      input: { files: [divide, noisy] },
      context: { dependencies: {} },
    };
    const res = await app.inject({ method: 'POST', url: '/execute', payload });
    expect(res.json().output.counts).toEqual({ error: 0, warning: 2, info: 0 });
    const metrics = (await app.inject({ url: '/metrics' })).body;
    expect(metricValue(metrics, 'code_review_findings', { severity: 'warning' })).toBe(2);
    expect(metricValue(metrics, 'code_review_findings', { severity: 'error' })).toBe(0);
  });
});
