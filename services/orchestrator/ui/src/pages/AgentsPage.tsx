import { useState } from 'react';
import { api, messageOf } from '../api.ts';
import { when } from '../format.ts';
import type { AgentView } from '../types.ts';
import { usePoll } from '../usePoll.ts';

export function AgentsPage() {
  const [answer, setAnswer] = useState<{ discovery: string; agents: AgentView[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  usePoll(
    async (signal) => {
      try {
        setAnswer(await api('/agents', { signal }));
        setError(null);
      } catch (err) {
        if (!signal.aborted) setError(messageOf(err));
      }
    },
    5_000,
    [],
  );
  return (
    <section>
      <h1>Agents</h1>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {answer && <p className="muted">Found through {answer.discovery} discovery.</p>}
      {answer && (
        <table className="agents">
          <caption className="visually-hidden">Agents, their instances, breakers and calls in flight</caption>
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col">Status</th>
              <th scope="col">Instances</th>
              <th scope="col">Circuit breaker</th>
              <th scope="col">Calls in flight</th>
              <th scope="col">Capabilities</th>
            </tr>
          </thead>
          <tbody>
            {answer.agents.map((a) => (
              <tr key={a.name} data-agent={a.name}>
                <th scope="row">
                  {a.name}
                  {a.version && <span className="muted"> {a.version}</span>}
                </th>
                <td>
                  <span className={`badge state-${a.status === 'up' ? 'succeeded' : 'failed'}`}>{a.status === 'up' ? 'up' : 'down'}</span>
                  {a.error && <div className="muted">{a.error}</div>}
                  {a.last_seen && <div className="muted">seen {when(a.last_seen)}</div>}
                </td>
                <td>
                  <ul className="plain">
                    {a.instances.map((i) => (
                      <li key={i.url}>
                        <code>{i.url}</code>
                        {i.ejected ? ' (left out after failures)' : ''}
                      </li>
                    ))}
                  </ul>
                </td>
                <td>{a.circuit_breaker.state}</td>
                <td>{a.calls_in_flight}</td>
                <td>{a.capabilities.join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
