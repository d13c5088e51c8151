import { useState, type FormEvent } from 'react';
import { apiKey } from './api.ts';

/** Asked for once per tab when the API answers 401 (API_AUTH=keys), and again if the key stops working. */
export function KeyForm({ reason, onDone }: { reason: string; onDone: () => void }) {
  const [key, setKey] = useState('');
  const hadKey = apiKey.get() !== null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!key.trim()) return;
    apiKey.set(key.trim());
    onDone();
  };
  return (
    <section className="card narrow">
      <h1>API key</h1>
      <p>This orchestrator asks for an API key{hadKey ? ', and did not take the one given' : ''}.</p>
      <p className="muted" role="status">
        {reason}
      </p>
      <form onSubmit={submit}>
        <label htmlFor="api-key">Key</label>
        <input id="api-key" type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} required />
        <button type="submit">Use this key</button>
      </form>
      <p className="muted">Kept for this browser tab only.</p>
    </section>
  );
}
