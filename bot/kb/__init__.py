"""Knowledge-base management: the base as a table (CSV/XLSX), versions of every applied change,
what changed between two, and the evaluation gate a change must pass."""
