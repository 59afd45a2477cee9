// A real Mosquitto broker (Debian's 2.0.11 here) for tests and benchmarks:
// one process per harness, on 127.0.0.1 and a free port, from a config file
// written into a temporary directory.
//
//   const m = await startMosquitto({ persistence: true });
//   mqtt.connect(m.url, { protocolVersion: 5 });   // mqtt://127.0.0.1:PORT
//   await m.kill9();      // SIGKILL: no final save
//   await m.restart();    // same port, same config, same data dir
//   await m.close();      // stop (SIGTERM) and remove the temporary directories
//
// Persistence (mosquitto.conf(5) and Mosquitto's ChangeLog, checked against
// 2.0.11's behaviour by test/brokers/harness.test.ts):
// - With `persistence true`, the whole in-memory state (retained messages,
//   durable sessions and their subscriptions, messages queued or in flight
//   for them) is written to `persistence_location/mosquitto.db` on a clean
//   exit (SIGTERM/SIGINT), on SIGUSR1, and by autosave: every
//   `autosave_interval` seconds, or, with `autosave_on_changes true`, once the
//   count of changes (subscription changes, retained messages received,
//   queued messages, deliveries completed) reaches `autosave_interval`.
//   The check runs once per iteration of the broker's network loop, after the
//   packets read in that iteration were handled (PUBACKs already queued).
// - Each save rewrites the whole file: written to `mosquitto.db.new`,
//   fsync'd, then renamed over `mosquitto.db`, so a crash during a save
//   leaves the previous complete file (no torn file).
// - There is no write-ahead log: SIGKILL (or a crash, or power loss) loses
//   every change made since the last completed save. The defaults here,
//   `autosave_interval 1` + `autosave_on_changes true`, save at the end of
//   every loop iteration that changed something, but Mosquitto sends PUBACK
//   (and SUBACK) while handling the packet, before that save: a message the
//   broker has acknowledged is lost if SIGKILL lands between the PUBACK and
//   the end of the save (a full rewrite + fsync). Measured on this machine: SIGKILL right after the last of
//   50 PUBACKs lost exactly that last message in 24 of 30 trials (MQTT 3.1.1
//   and 5 alike); after one more QoS 1 round trip on the same connection (its
//   PUBACK comes from a later loop iteration, so the earlier save is done) no
//   message was lost in 60 trials. With time-based autosave (the default
//   1800 s), SIGKILL loses everything since the last save or clean exit.
// - Each save costs a rewrite of the whole database plus fsync: with
//   save-on-every-change, QoS 1 throughput fell to ~140 msg/s here (vs
//   ~10,000 without persistence). Fine for tests, not for load runs.
//
// The broker is started through a small /bin/sh guardian that holds the read
// end of a pipe whose write end only this process holds: if this process dies
// in any way (even SIGKILL of a vitest worker), the pipe reaches EOF and the
// guardian SIGKILLs mosquitto and removes the harness's temporary directory.
// A process 'exit' hook also SIGKILLs every broker still running and removes
// the directories of harnesses not closed. `pid` is mosquitto's own PID (not the guardian's):
// `stop(signal)` signals mosquitto directly.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { LOOPBACK, canConnect, freePort } from './ports.js';

export interface StartMosquittoOptions {
  /** Enable persistence (default false). */
  readonly persistence?: boolean;
  /** persistence_location (created if missing; default: a new temporary directory). Implies nothing about `persistence`. */
  readonly dataDir?: string;
  /** autosave_interval (default 1: with autosaveOnChanges, save after every change). */
  readonly autosaveInterval?: number;
  /** autosave_on_changes (default true). */
  readonly autosaveOnChanges?: boolean;
  /** max_inflight_messages (Mosquitto's default: 20; for MQTT 5 clients also the Receive Maximum it announces). */
  readonly maxInflight?: number;
  /** max_queued_messages (Mosquitto 2.0's default: 1000). */
  readonly maxQueued?: number;
  /** Further config lines, appended as written. */
  readonly extraConfig?: string | readonly string[];
  /** A fixed port (default: a free port; with a fixed port a failed bind is not retried elsewhere). */
  readonly port?: number;
  /** Upper bound for a start or restart to accept connections (default 10 s). */
  readonly startTimeoutMs?: number;
  /**
   * log_type values added to error, warning, notice and information (always on:
   * the harness reads "mosquitto version ... running" and the save lines), e.g. ['subscribe'].
   */
  readonly logTypes?: readonly string[];
  /** Path of the mosquitto binary (default: $MOSQUITTO_BIN, PATH, /usr/sbin, /usr/local/sbin). */
  readonly binary?: string;
}

export interface MosquittoExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface MosquittoHarness {
  readonly port: number;
  /** `mqtt://127.0.0.1:PORT` */
  readonly url: string;
  /** PID of the current (or, once stopped, the last) mosquitto process. */
  readonly pid: number;
  readonly running: boolean;
  /** persistence_location (also when persistence is off). */
  readonly dataDir: string;
  /** `dataDir/mosquitto.db` */
  readonly dbFile: string;
  readonly configFile: string;
  /** The config as written. */
  readonly config: string;
  /** Mosquitto's stderr (its log) over all runs, the last 512 KiB; each run starts with a `# run N pid P` line. */
  log(): string;
  /** How many "Saving in-memory database" lines the log holds (needs log type information). */
  saveCount(): number;
  /** Sends `signal` to mosquitto and waits for it to exit (SIGKILL after 10 s if it does not). */
  stop(signal?: NodeJS.Signals): Promise<MosquittoExit>;
  /** stop('SIGKILL'): no final save. */
  kill9(): Promise<MosquittoExit>;
  /** Stops mosquitto if it is running (SIGTERM), then starts it again on the same port, config and data dir. */
  restart(): Promise<void>;
  /** Stops mosquitto (SIGTERM) and removes the temporary directories this harness created. Idempotent. */
  close(): Promise<void>;
}

const INSTALL_HINT = 'run `bash .ci/run` (it installs what is missing) or `apt-get install -y mosquitto`';
const LOG_LIMIT = 512 * 1024;
const STOP_GRACE_MS = 10_000;

/** Locates the mosquitto binary, or undefined. */
export function findMosquitto(binary?: string): string | undefined {
  const candidates: string[] = [];
  if (binary) candidates.push(binary);
  else {
    const fromEnv = process.env['MOSQUITTO_BIN'];
    if (fromEnv) candidates.push(fromEnv);
    for (const dir of (process.env['PATH'] ?? '').split(delimiter)) if (dir) candidates.push(join(dir, 'mosquitto'));
    candidates.push('/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto');
  }
  for (const candidate of candidates) {
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Process bookkeeping: when this process exits, every live mosquitto is
// SIGKILLed and the temporary directories of harnesses not closed are removed.

const live = new Set<number>();
const openDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of live) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of openDirs) rmSync(dir, { recursive: true, force: true });
  });
}

// The guardian: starts mosquitto ($1 -c $2) in the background, prints its PID,
// and exits with its status. When stdin (a pipe from this process) reaches EOF
// first, because this process died, it SIGKILLs mosquitto and removes the
// harness's temporary directory ($3).
const GUARDIAN = [
  '"$1" -c "$2" </dev/null &',
  'm=$!',
  'echo "$m"',
  'exec 3<&0',
  '( read -r _ <&3; kill -KILL "$m"; [ -n "$3" ] && rm -rf -- "$3" ) >/dev/null 2>&1 &',
  'g=$!',
  'exec 3<&-',
  'wait "$m"',
  'rc=$?',
  'kill "$g" 2>/dev/null',
  'exit "$rc"',
].join('\n');

function signalName(code: number): NodeJS.Signals | null {
  for (const [name, value] of Object.entries(osConstants.signals)) {
    if (value === code) return name as NodeJS.Signals;
  }
  return null;
}

interface Run {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<MosquittoExit>;
  exit: MosquittoExit | undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Starts mosquitto on 127.0.0.1 with a generated config; resolves once the port accepts connections. */
export async function startMosquitto(options: StartMosquittoOptions = {}): Promise<MosquittoHarness> {
  const binary = findMosquitto(options.binary);
  if (!binary) {
    throw new Error(
      `mosquitto is not installed (looked for ${options.binary ?? '$MOSQUITTO_BIN, mosquitto on PATH, /usr/sbin/mosquitto, /usr/local/sbin/mosquitto'}): ${INSTALL_HINT}`,
    );
  }
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  const persistence = options.persistence ?? false;
  const logTypes = [...new Set(['error', 'warning', 'notice', 'information', ...(options.logTypes ?? [])])];

  const baseDir = mkdtempSync(join(tmpdir(), 'pqc-mosquitto-'));
  openDirs.add(baseDir);
  const dataDir = options.dataDir ?? join(baseDir, 'data');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const configFile = join(baseDir, 'mosquitto.conf');
  const dbFile = join(dataDir, 'mosquitto.db');

  const renderConfig = (port: number): string => {
    const lines = [
      '# written by test/support/mosquitto.ts',
      `listener ${port} ${LOOPBACK}`,
      'allow_anonymous true',
      // As root, Mosquitto would drop to the "mosquitto" user, which cannot
      // write our temporary directories. Tests only: stay as the caller.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'log_dest stderr',
      ...logTypes.map((t) => `log_type ${t}`),
      'connection_messages true',
      `persistence ${persistence ? 'true' : 'false'}`,
      `persistence_location ${dataDir.endsWith('/') ? dataDir : `${dataDir}/`}`,
      'persistence_file mosquitto.db',
      `autosave_interval ${options.autosaveInterval ?? 1}`,
      `autosave_on_changes ${(options.autosaveOnChanges ?? true) ? 'true' : 'false'}`,
    ];
    if (options.maxInflight !== undefined) lines.push(`max_inflight_messages ${options.maxInflight}`);
    if (options.maxQueued !== undefined) lines.push(`max_queued_messages ${options.maxQueued}`);
    const extra = options.extraConfig;
    if (extra !== undefined) lines.push(...(typeof extra === 'string' ? extra.split('\n') : extra));
    return `${lines.join('\n')}\n`;
  };

  let logText = '';
  let runCount = 0;
  const appendLog = (chunk: string): void => {
    logText += chunk;
    if (logText.length > LOG_LIMIT) logText = logText.slice(logText.length - LOG_LIMIT);
  };

  let port = options.port ?? (await freePort());
  let config = '';
  let current: Run | undefined;
  let last: Run | undefined;
  let closed = false;

  installExitHook();

  /** One attempt: spawn and wait until the port accepts or mosquitto exits. */
  const spawnOnce = async (): Promise<{ ok: true } | { ok: false; reason: string; inUse: boolean }> => {
    runCount += 1;
    let runText = ''; // this run's stderr, for error messages
    appendLog(`# run ${runCount} port ${port}\n`);
    const child = spawn('/bin/sh', ['-c', GUARDIAN, 'mosquitto-guardian', binary, configFile, baseDir], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout = child.stdout as Readable;
    const stderr = child.stderr as Readable;
    stderr.setEncoding('utf8');
    stderr.on('data', (d: string) => {
      appendLog(d);
      if (runText.length < 64 * 1024) runText += d;
    });
    stdout.setEncoding('utf8');

    let exitInfo: MosquittoExit | undefined;
    const stderrEnded = new Promise<void>((resolve) => stderr.once('close', () => resolve()));
    const exited = new Promise<MosquittoExit>((resolve) => {
      child.once('exit', (code, signal) => {
        // The guardian exits with mosquitto's status (128 + n when killed by signal n).
        let info: MosquittoExit = { code, signal };
        if (signal === null && code !== null && code > 128) info = { code: null, signal: signalName(code - 128) };
        // Let mosquitto's last words (the reason it quit) reach the log first, briefly.
        let timer: NodeJS.Timeout | undefined;
        void Promise.race([stderrEnded, new Promise<void>((r) => (timer = setTimeout(r, 500)))]).then(() => {
          clearTimeout(timer);
          exitInfo = info;
          resolve(info);
        });
      });
    });
    child.once('error', (err) => appendLog(`# spawn error: ${err.message}\n`));

    const pid = await new Promise<number | undefined>((resolve) => {
      let buf = '';
      const onData = (d: string): void => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          stdout.removeListener('data', onData);
          stdout.resume();
          const n = Number(buf.slice(0, nl).trim());
          resolve(Number.isInteger(n) && n > 0 ? n : undefined);
        }
      };
      stdout.on('data', onData);
      void exited.then(() => resolve(undefined));
    });
    if (pid === undefined) {
      await exited;
      return { ok: false, reason: `the guardian shell did not start mosquitto\n${runText}`, inUse: false };
    }
    live.add(pid);
    const run: Run = { child, pid, exited, exit: undefined };
    void exited.then((info) => {
      run.exit = info;
      live.delete(pid);
      (child.stdin as Writable | null)?.destroy();
      appendLog(`# run ${runCount} pid ${pid} exited: ${info.signal ?? `code ${String(info.code)}`}\n`);
    });
    appendLog(`# run ${runCount} pid ${pid}\n`);
    current = run;
    last = run;

    // Ready when mosquitto itself says so (it logs "running" once every
    // listener is bound: a probe alone could reach another process that took
    // the port) and the port accepts connections.
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (exitInfo !== undefined) break;
      if (/mosquitto version \S+ running/.test(runText) && (await canConnect(port, LOOPBACK, 500)) && exitInfo === undefined) {
        // Neither the guardian nor its pipes may keep an idle process alive:
        // the guardian kills mosquitto when this process goes away.
        child.unref();
        (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
        (stdout as unknown as { unref?: () => void }).unref?.();
        (stderr as unknown as { unref?: () => void }).unref?.();
        return { ok: true };
      }
      await sleep(25);
    }
    const text = runText;
    if (exitInfo === undefined) {
      process.kill(pid, 'SIGKILL');
      await exited;
      current = undefined;
      return {
        ok: false,
        reason: `mosquitto (pid ${pid}) did not accept connections on ${LOOPBACK}:${port} within ${startTimeoutMs} ms\n${text}`,
        inUse: false,
      };
    }
    current = undefined;
    const info = exitInfo as MosquittoExit;
    return {
      ok: false,
      reason: `mosquitto exited (${info.signal ?? `code ${String(info.code)}`}) before accepting connections on ${LOOPBACK}:${port}\n${text}`,
      inUse: /address already in use/i.test(text),
    };
  };

  const start = async (fixedPort: boolean): Promise<void> => {
    let lastReason = '';
    const until = Date.now() + startTimeoutMs;
    for (let attempt = 0; attempt < (fixedPort ? 5 : 10); attempt += 1) {
      config = renderConfig(port);
      writeFileSync(configFile, config, { mode: 0o600 });
      const result = await spawnOnce();
      if (result.ok) return;
      lastReason = result.reason;
      if (!result.inUse || Date.now() > until) break;
      if (fixedPort) await sleep(100); // the old socket may still be going away
      else port = await freePort();
    }
    throw new Error(`startMosquitto: ${lastReason.trimEnd()}\nconfig ${configFile}:\n${config}`);
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<MosquittoExit> => {
    const run = current;
    if (!run) return last?.exit ?? { code: null, signal: null };
    if (run.exit === undefined) {
      try {
        process.kill(run.pid, signal);
      } catch {
        // already gone: its exit is on its way
      }
      // The timer keeps the event loop alive while we wait (the child is unref'd).
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        run.exited.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), STOP_GRACE_MS);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        appendLog(`# pid ${run.pid} ignored ${signal} for ${STOP_GRACE_MS} ms: SIGKILL\n`);
        try {
          process.kill(run.pid, 'SIGKILL');
        } catch {
          // gone
        }
        await run.exited;
      }
    }
    if (current === run) current = undefined;
    return (await run.exited);
  };

  try {
    await start(options.port !== undefined);
  } catch (err) {
    openDirs.delete(baseDir);
    rmSync(baseDir, { recursive: true, force: true });
    throw err;
  }

  const harness: MosquittoHarness = {
    get port() {
      return port;
    },
    get url() {
      return `mqtt://${LOOPBACK}:${port}`;
    },
    get pid() {
      return (current ?? last)?.pid ?? -1;
    },
    get running() {
      return current !== undefined && current.exit === undefined;
    },
    dataDir,
    dbFile,
    configFile,
    get config() {
      return config;
    },
    log: () => logText,
    saveCount: () => logText.split('Saving in-memory database').length - 1,
    stop,
    kill9: () => stop('SIGKILL'),
    async restart(): Promise<void> {
      if (closed) throw new Error('startMosquitto: restart() after close()');
      if (current) await stop('SIGTERM');
      await start(true);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await stop('SIGTERM');
      // Removes the default data dir too (it lives in baseDir); a caller's dataDir is left alone.
      openDirs.delete(baseDir);
      rmSync(baseDir, { recursive: true, force: true });
    },
  };
  return harness;
}
