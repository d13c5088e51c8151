export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge state-${status}`}>{status.replaceAll('_', ' ')}</span>;
}
