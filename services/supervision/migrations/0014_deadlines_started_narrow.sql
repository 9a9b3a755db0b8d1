-- The deadline outcomes by start (`deadlines_started`, 0011) covered (county, department, kind,
-- state) so a period's outcomes were one index-only scan. Since the monthly rollups (0012) a KPI
-- call counts only the current month, a ragged period's edge days and subsets from the rows, and
-- every fired, met or withdrawn deadline rewrote that wide entry: the timer loop's firings and
-- schedulings paid for it (issue #16, docs/benchmarks.md "Timers"). Keyed on the start alone, the
-- entries are a third the size; the few rows of an edge are read from the heap.
drop index if exists deadlines_started;
create index deadlines_started on deadlines (trigger_at);
