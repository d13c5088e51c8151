import { api, jsonFile } from './client.ts';
import { budgetFlags, type BudgetFlags } from './usage.ts';

export const schedulesUsage = `  agentic-mesh schedules list         every schedule: next run, last run and its outcome
  agentic-mesh schedules get <name>
  agentic-mesh schedules create <name> --cron "<expr>" (--workflow <name> | --plan plan.json | --description "...")
      [--timezone Europe/Paris] [--input input.json] [--overlap skip|queue|allow]
      [--catch-up none|latest|all] [--paused] [--budget-usd 5] [--budget-tokens 200000] [--on-budget fail|wait]
  agentic-mesh schedules pause|resume|trigger|delete <name>`;

export interface ScheduleFlags extends BudgetFlags {
  cron?: string | undefined;
  timezone?: string | undefined;
  workflow?: string | undefined;
  plan?: string | undefined;
  description?: string | undefined;
  input?: string | undefined;
  overlap?: string | undefined;
  'catch-up'?: string | undefined;
  paused?: boolean | undefined;
}

const when = (v: unknown) => (v ? new Date(String(v)).toISOString() : '-');

function line(s: Record<string, unknown>): string {
  const what = s.workflow ? `workflow ${String(s.workflow)}` : s.plan ? 'plan' : `"${String(s.description)}"`;
  const last = s.last_run as { task_id: string; status: string | null } | null;
  return [
    `${String(s.name)}  ${String(s.cron)} (${String(s.timezone)})  ${what}  ${s.enabled ? 'enabled' : 'paused'}` +
      (s.budget ? `  budget ${JSON.stringify(s.budget)}` : ''),
    `  next ${when(s.next_run_at)}  last tick ${when(s.last_tick_at)}: ${String(s.last_outcome ?? '-')}` +
      (last ? `  last run ${last.task_id} ${last.status ?? 'deleted'}` : ''),
  ].join('\n');
}

/** `agentic-mesh schedules <verb> ...` against the orchestrator's /schedules API. */
export async function schedulesCommand(url: string, args: string[], flags: ScheduleFlags): Promise<number> {
  const [verb, name] = args;
  const named = () => {
    if (!name) throw new Error(`name the schedule: agentic-mesh schedules ${verb} <name>`);
    return encodeURIComponent(name);
  };
  const print = (s: Record<string, unknown>) => process.stdout.write(`${line(s)}\n`);
  switch (verb) {
    case 'list': {
      const { schedules } = (await api(url, 'GET', '/schedules')) as { schedules: Array<Record<string, unknown>> };
      process.stdout.write(schedules.length ? `${schedules.map(line).join('\n')}\n` : 'no schedules\n');
      return 0;
    }
    case 'get':
      print(await api(url, 'GET', `/schedules/${named()}`));
      return 0;
    case 'create': {
      if (!flags.cron) throw new Error('give --cron, e.g. --cron "0 2 * * *" (5 fields, or 6 with seconds first)');
      const body: Record<string, unknown> = { name: name ?? '', cron: flags.cron };
      if (flags.timezone) body.timezone = flags.timezone;
      if (flags.workflow) body.workflow = flags.workflow;
      if (flags.plan) body.plan = await jsonFile('plan', flags.plan);
      if (flags.description) body.description = flags.description;
      if (flags.input) body.input = await jsonFile('input', flags.input);
      if (flags.overlap) body.overlap = flags.overlap;
      if (flags['catch-up']) body.catch_up = flags['catch-up'];
      if (flags.paused) body.enabled = false;
      const budget = budgetFlags(flags);
      if (Object.keys(budget).length > 0) body.budget = budget;
      named();
      print(await api(url, 'POST', '/schedules', body));
      return 0;
    }
    case 'pause':
    case 'resume':
      print(await api(url, 'PATCH', `/schedules/${named()}`, { enabled: verb === 'resume' }));
      return 0;
    case 'trigger': {
      const res = await api(url, 'POST', `/schedules/${named()}/trigger`, {});
      process.stdout.write(`schedule ${String(res.schedule)}: task ${String(res.task_id)} started (${url}${String(res.status_url)})\n`);
      return 0;
    }
    case 'delete':
      await api(url, 'DELETE', `/schedules/${named()}`);
      process.stdout.write(`schedule ${name} deleted\n`);
      return 0;
    default:
      process.stderr.write(`unknown schedules command "${verb ?? ''}"\n\n${schedulesUsage}\n`);
      return 1;
  }
}
