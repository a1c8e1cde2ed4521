// Page through a long list: "21–40 of 206", previous and next.
export function Pager({
  offset,
  limit,
  total,
  onChange,
}: {
  offset: number;
  limit: number;
  total: number;
  onChange: (offset: number) => void;
}) {
  if (total <= limit && offset === 0) return null;
  const last = Math.min(total, offset + limit);
  return (
    <nav className="pager" aria-label="Pages" data-testid="pager">
      <span className="muted small" data-testid="pager-range">
        {total === 0 ? 'None' : `${offset + 1}–${last} of ${total}`}
      </span>
      <span className="actions">
        <button
          type="button"
          className="btn btn-small"
          disabled={offset === 0}
          onClick={() => onChange(Math.max(0, offset - limit))}
          data-testid="pager-previous"
        >
          ← Newer
        </button>
        <button
          type="button"
          className="btn btn-small"
          disabled={last >= total}
          onClick={() => onChange(offset + limit)}
          data-testid="pager-next"
        >
          Older →
        </button>
      </span>
    </nav>
  );
}
