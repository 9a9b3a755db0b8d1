// BullMQ delayed jobs, same protocol as `xinfang bench timers` (services/supervision/src/bench.rs):
// workers start, N jobs are added due uniformly over [T, T + window] with T = start + lead,
// every job is processed, lag = processing time - due time, fire rate = N / (last - T).
// Usage: node bench.js --n N [--json] [--window-ms W] [--lead-ms L] [--workers K]
//        [--concurrency C] [--redis redis://127.0.0.1:6379]
'use strict';
const { Queue, Worker } = require('bullmq');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  if (i < 0) return dflt;
  const v = process.argv[i + 1];
  if (v === undefined) throw new Error(`${name} needs a value`);
  return v;
}

async function main() {
  const n = parseInt(arg('--n', '100000'), 10);
  if (!(n > 0)) throw new Error('--n must be a positive integer');
  const window = parseInt(arg('--window-ms', String(Math.max(1000, Math.floor(n / 50)))), 10);
  const lead = parseInt(arg('--lead-ms', String(1000 + Math.floor(n / 20))), 10);
  const workers = parseInt(arg('--workers', '2'), 10);
  const concurrency = parseInt(arg('--concurrency', '200'), 10);
  const url = new URL(arg('--redis', process.env.XF__REDIS__URL || 'redis://127.0.0.1:6379'));
  const connection = { host: url.hostname, port: parseInt(url.port || '6379', 10), maxRetriesPerRequest: null };
  const prefix = `xfbenchbull${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  const name = 'timers';

  const seen = new Map();
  const lags = [];
  let processed = 0;
  let lastFire = 0;
  const ws = [];
  for (let w = 0; w < workers; w++) {
    const worker = new Worker(name, async (job) => {
      const now = Date.now();
      lags.push(now - job.data.due);
      seen.set(job.id, (seen.get(job.id) || 0) + 1);
      processed++;
      if (now > lastFire) lastFire = now;
    }, { connection, prefix, concurrency, removeOnComplete: { count: 0 }, removeOnFail: { count: 0 } });
    worker.on('error', (e) => console.error('worker error', e.message));
    ws.push(worker);
  }
  await Promise.all(ws.map((w) => w.waitUntilReady()));
  const queue = new Queue(name, { connection, prefix });
  await queue.waitUntilReady();

  const start = Date.now();
  const firstDue = start + lead;
  const step = window / n;
  const t0 = process.hrtime.bigint();
  const CHUNK = 1000;
  for (let i = 0; i < n; i += CHUNK) {
    const jobs = [];
    const now = Date.now();
    for (let k = i; k < Math.min(n, i + CHUNK); k++) {
      const due = Math.round(firstDue + k * step);
      jobs.push({ name: 't', data: { due }, opts: { jobId: `t${k}`, delay: Math.max(0, due - now) } });
    }
    await queue.addBulk(jobs);
  }
  const scheduleSecs = Number(process.hrtime.bigint() - t0) / 1e9;

  const budget = lead + window + 60000 + n / 2;
  const waitStart = Date.now();
  while (processed < n && Date.now() - waitStart < budget) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 1000));
  await Promise.all(ws.map((w) => w.close()));
  await queue.obliterate({ force: true }).catch(() => {});
  // Leave nothing behind: delete every key under this run's prefix.
  const client = await queue.client;
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await client.del(...keys);
  } while (cursor !== '0');
  await queue.close();

  lags.sort((a, b) => a - b);
  const pct = (p) => (lags.length ? lags[Math.min(lags.length - 1, Math.round((lags.length - 1) * p))] : 0);
  let once = seen.size === n && processed === n;
  if (once) for (const c of seen.values()) if (c !== 1) { once = false; break; }
  const fireSecs = Math.max(1, lastFire - firstDue) / 1000;
  const report = {
    n,
    schedule_per_second: n / scheduleSecs,
    fire_per_second: n / fireSecs,
    lag_p50_ms: pct(0.5),
    lag_p99_ms: pct(0.99),
    lag_max_ms: lags.length ? lags[lags.length - 1] : 0,
    fired_once: once,
    window_ms: window,
    lead_ms: lead,
    workers,
    concurrency,
    schedule_secs: scheduleSecs,
    fire_secs: fireSecs,
  };
  console.log(`bullmq: n=${n} workers=${workers}x${concurrency} window=${window}ms lead=${lead}ms`);
  console.log(`  schedule: ${report.schedule_per_second.toFixed(0)}/s (${scheduleSecs.toFixed(2)}s)`);
  console.log(`  fire:     ${report.fire_per_second.toFixed(0)}/s (${fireSecs.toFixed(2)}s after the first due time)`);
  console.log(`  lag:      p50 ${report.lag_p50_ms} ms, p99 ${report.lag_p99_ms} ms, max ${report.lag_max_ms} ms`);
  console.log(`  fired exactly once: ${once}`);
  if (process.argv.includes('--json')) console.log(JSON.stringify(report));
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
