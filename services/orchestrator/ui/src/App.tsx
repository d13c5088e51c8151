import { useEffect, useState } from 'react';
import { Link, Route, Router, Switch, useRoute } from 'wouter';
import { onUnauthorized } from './api.ts';
import { KeyForm } from './KeyForm.tsx';
import { AgentsPage } from './pages/AgentsPage.tsx';
import { ComparePage } from './pages/ComparePage.tsx';
import { RunPage } from './pages/RunPage.tsx';
import { RunsPage } from './pages/RunsPage.tsx';
import { SchedulesPage } from './pages/SchedulesPage.tsx';
import { SubmitPage } from './pages/SubmitPage.tsx';

function NavLink({ href, children }: { href: string; children: string }) {
  const [active] = useRoute(href === '/' ? '/' : `${href}/*?`);
  return (
    <Link href={href} className={active ? 'active' : ''} aria-current={active ? 'page' : undefined}>
      {children}
    </Link>
  );
}

export function App() {
  // Set when the API answers 401: the page asks for a key, then every page loads again with it.
  const [keyWanted, setKeyWanted] = useState<string | null>(null);
  const [session, setSession] = useState(0);
  useEffect(() => onUnauthorized((message) => setKeyWanted(message)), []);

  return (
    <Router base="/ui">
      <header className="top">
        <span className="brand">Agentic Mesh</span>
        <nav aria-label="Pages">
          <NavLink href="/">Runs</NavLink>
          <NavLink href="/submit">Submit</NavLink>
          <NavLink href="/schedules">Schedules</NavLink>
          <NavLink href="/agents">Agents</NavLink>
        </nav>
      </header>
      <main key={session}>
        {keyWanted !== null ? (
          <KeyForm
            reason={keyWanted}
            onDone={() => {
              setKeyWanted(null);
              setSession((n) => n + 1);
            }}
          />
        ) : (
          <Switch>
            <Route path="/" component={RunsPage} />
            <Route path="/runs/:id">{(params) => <RunPage id={params.id} />}</Route>
            <Route path="/compare/:a/:b">{(params) => <ComparePage key={`${params.a}/${params.b}`} a={params.a} b={params.b} />}</Route>
            <Route path="/agents" component={AgentsPage} />
            <Route path="/submit" component={SubmitPage} />
            <Route path="/schedules" component={SchedulesPage} />
            <Route>
              <h1>Not a page</h1>
              <p>
                <Link href="/">Back to the runs</Link>
              </p>
            </Route>
          </Switch>
        )}
      </main>
    </Router>
  );
}
