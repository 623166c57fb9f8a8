/**
 * The WebSocket client of `flatsync.net` (the docs' protocol page), for
 * browsers and Node: the hello/welcome handshake, sync packets into a
 * {@link Replica} and its replies back, application messages, pings and
 * goodbyes, and reconnection with backoff that resumes from the replica's frame.
 *
 * It uses the platform's `WebSocket` (browsers; Node 22, or Node 20 with
 * `--experimental-websocket`), or the constructor given as `options.WebSocket`.
 */

import { cbor, decodeCbor, encodeCbor } from "./cbor.js";
import type { Codec } from "./codecs.js";
import { FlatsyncError } from "./errors.js";
import { Replica } from "./replica.js";
import { Float, PyMap, type Tree } from "./tree.js";

export const PROTOCOL_VERSION = 1;
const HELLO = 0x48,
  WELCOME = 0x57,
  SYNC = 0x53,
  REPLY = 0x52,
  MESSAGE = 0x4d,
  PING = 0x50,
  PONG = 0x4f,
  BYE = 0x42;
const CONTROL_LIMITS = { maxPacketSize: 1024, maxDepth: 3, maxContainerItems: 16, maxStringLength: 256 };

/** What the server said in its welcome. */
export interface Welcome {
  session: Uint8Array;
  client: number;
  key: Uint8Array;
  resumed: boolean;
  server: string;
  rate: number | null;
}

/** The part of the WebSocket API the client uses. */
export interface SocketLike {
  binaryType: string;
  readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
}
export type SocketConstructor = new (url: string) => SocketLike;

export interface ClientOptions {
  /** The session's codec: `cbor` (the default) or `json`. */
  codec?: Codec;
  /** The client's name (0 to 64 printable characters). */
  name?: string;
  /** Opaque credentials for the server's application. */
  token?: Uint8Array;
  /** Reconnect after a lost connection or a goodbye (true by default). */
  reconnect?: boolean;
  /** First and longest wait between attempts, in milliseconds (250 and 5,000 by default). */
  backoff?: { initial: number; max: number };
  /** Milliseconds between pings (1,000 by default). */
  pingInterval?: number;
  WebSocket?: SocketConstructor;
}

type Handler<T> = (value: T) => void;

function bytesOf(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

function field(map: PyMap, key: string): Tree | undefined {
  return map.get(key);
}

/** Parse a welcome's body (FlatsyncError when it is not one). */
export function decodeWelcome(body: Uint8Array): Welcome & { codec: string } {
  const map = decodeCbor(body, CONTROL_LIMITS);
  if (!(map instanceof PyMap)) throw new FlatsyncError("a welcome is a map");
  const v = field(map, "v");
  const session = field(map, "session");
  const client = field(map, "client");
  const key = field(map, "key");
  const codec = field(map, "codec");
  const rate = field(map, "rate");
  if (v !== PROTOCOL_VERSION) throw new FlatsyncError(`the server speaks protocol version ${String(v)}`);
  if (!(session instanceof Uint8Array) || session.length !== 8) throw new FlatsyncError("a welcome's session is 8 bytes");
  if (typeof client !== "number" || !Number.isInteger(client) || client < 0) throw new FlatsyncError("a welcome's client id");
  if (!(key instanceof Uint8Array)) throw new FlatsyncError("a welcome's resume key is bytes");
  if (typeof codec !== "string") throw new FlatsyncError("a welcome's codec is text");
  return {
    codec,
    session,
    client,
    key,
    resumed: field(map, "resumed") === true,
    server: String(field(map, "server") ?? ""),
    rate: rate instanceof Float ? rate.value : typeof rate === "number" ? rate : null,
  };
}

/** The body of a hello. */
export function encodeHello(codec: string, name: string, token?: Uint8Array, resume?: { session: Uint8Array; client: number; key: Uint8Array; frame: number | null }): Uint8Array {
  const fields = new PyMap([
    ["v", PROTOCOL_VERSION],
    ["codec", codec],
    ["name", name],
  ]);
  if (token && token.length) fields.set("token", token);
  if (resume) {
    fields.set(
      "resume",
      new PyMap([
        ["session", resume.session],
        ["client", resume.client],
        ["key", resume.key],
        ["frame", resume.frame],
      ]),
    );
  }
  return encodeCbor(fields);
}

function message(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1);
  out[0] = kind;
  out.set(body, 1);
  return out;
}

export class Client {
  readonly url: string;
  /**
   * The replica of the server's state, for the client's whole life: after a
   * server restart (a new session) the new session's snapshot replaces its
   * state, with events, and no packet of the old session is applied again.
   */
  readonly replica: Replica;
  /** The last welcome, or null before the first. */
  welcome: Welcome | null = null;
  /** The last measured round trip, in milliseconds. */
  rtt: number | null = null;
  private socket: SocketLike | null = null;
  private closed = false;
  private attempt = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private readonly options: Required<Pick<ClientOptions, "codec" | "name" | "reconnect" | "backoff" | "pingInterval">> & ClientOptions;
  private readonly messageHandlers = new Set<Handler<Tree>>();
  private readonly welcomeHandlers = new Set<Handler<Welcome>>();
  private readonly closeHandlers = new Set<Handler<string>>();

  constructor(url: string, options: ClientOptions = {}) {
    this.url = url;
    this.options = { codec: cbor, name: "", reconnect: true, backoff: { initial: 250, max: 5000 }, pingInterval: 1000, ...options };
    this.replica = new Replica({ codec: this.options.codec });
    this.open();
  }

  /** Call `handler(message)` for each application message from the server. */
  onMessage(handler: Handler<Tree>): () => void {
    this.messageHandlers.add(handler);
    return () => this.messageHandlers.delete(handler);
  }
  /** Call `handler(welcome)` after each handshake. */
  onWelcome(handler: Handler<Welcome>): () => void {
    this.welcomeHandlers.add(handler);
    return () => this.welcomeHandlers.delete(handler);
  }
  /**
   * Call `handler(state)` after each applied sync packet (the replica's
   * `subscribe`: while a handler is there, each packet's changed mappings are
   * copied, so that the states handed out never change).
   */
  onState(handler: Handler<PyMap>): () => void {
    return this.replica.subscribe(handler);
  }
  /** Call `handler(reason)` when a connection ends (the client may reconnect). */
  onClose(handler: Handler<string>): () => void {
    this.closeHandlers.add(handler);
    return () => this.closeHandlers.delete(handler);
  }

  /** Resolve once `predicate(state)` holds (checked now and after each packet). */
  waitUntil(predicate: (state: PyMap) => boolean, timeoutMs = 10_000): Promise<PyMap> {
    return new Promise((resolve, reject) => {
      if (predicate(this.replica.state)) return resolve(this.replica.state);
      const timeout = setTimeout(() => {
        off();
        reject(new Error("waitUntil timed out"));
      }, timeoutMs);
      const off = this.onState((state) => {
        if (predicate(state)) {
          clearTimeout(timeout);
          off();
          resolve(state);
        }
      });
    });
  }

  /** Send an application message (encoded with the session's codec). */
  send(value: Tree): void {
    const body = this.options.codec.encode(value);
    this.write(message(MESSAGE, body));
  }

  /** Say goodbye and close for good (no reconnection). */
  close(reason = "the client is closing"): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.write(message(BYE, new TextEncoder().encode(reason).slice(0, 256)));
    this.stopTimer();
    this.socket?.close(1000);
    this.socket = null;
  }

  /** End the connection as a network failure would (no goodbye): the client reconnects and resumes. */
  dropConnection(): void {
    const socket = this.socket;
    if (socket) {
      this.ended(socket, "dropped");
      socket.close(1000);
    }
  }

  private write(data: Uint8Array): void {
    if (this.socket && this.socket.readyState === 1) this.socket.send(data);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private open(): void {
    const Impl = this.options.WebSocket ?? (globalThis as unknown as { WebSocket?: SocketConstructor }).WebSocket;
    if (!Impl) throw new Error("no WebSocket here: pass options.WebSocket (Node 20: --experimental-websocket)");
    const socket = new Impl(this.url);
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      const welcome = this.welcome;
      const resume = welcome ? { session: welcome.session, client: welcome.client, key: welcome.key, frame: this.replica.frame } : undefined;
      socket.send(message(HELLO, encodeHello(this.options.codec.name, this.options.name, this.options.token, resume)));
    };
    socket.onmessage = (event) => this.handle(socket, event.data);
    socket.onclose = () => this.ended(socket, "the connection closed");
    socket.onerror = () => undefined;
  }

  private ended(socket: SocketLike, reason: string): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.stopTimer();
    this.closeHandlers.forEach((h) => h(reason));
    if (this.closed || !this.options.reconnect) return;
    const { initial, max } = this.options.backoff;
    const wait = Math.min(max, initial * 2 ** this.attempt++);
    this.retry = setTimeout(() => this.open(), wait);
  }

  private handle(socket: SocketLike, data: unknown): void {
    const bytes = bytesOf(data);
    if (bytes === null || bytes.length === 0) {
      socket.close(1002, "a text message");
      return;
    }
    const kind = bytes[0]!;
    const body = bytes.subarray(1);
    try {
      if (kind === WELCOME) this.welcomed(body);
      else if (kind === SYNC) {
        try {
          this.replica.receive(body);
        } catch (exc) {
          if (!(exc instanceof FlatsyncError)) throw exc;
          // The replica queued its request (a resync or a refresh) and kept its state.
        }
        const reply = this.replica.packetToSend();
        if (reply) this.write(message(REPLY, reply));
      } else if (kind === MESSAGE) {
        const value = this.options.codec.decode(body);
        this.messageHandlers.forEach((h) => h(value));
      } else if (kind === PING) {
        if (body.length > 16) throw new FlatsyncError("a ping of more than 16 bytes");
        this.write(message(PONG, body));
      } else if (kind === PONG) {
        if (body.length === 8) this.rtt = performance.now() - new DataView(body.buffer, body.byteOffset, 8).getFloat64(0);
      } else if (kind === BYE) {
        this.ended(socket, new TextDecoder().decode(body));
        socket.close(1000);
      } else throw new FlatsyncError(`an unknown message kind 0x${kind.toString(16)}`);
    } catch (exc) {
      this.write(message(BYE, new TextEncoder().encode(String((exc as Error).message).slice(0, 200))));
      this.ended(socket, (exc as Error).message);
      socket.close(1002);
    }
  }

  private welcomed(body: Uint8Array): void {
    const welcome = decodeWelcome(body);
    if (welcome.codec !== this.options.codec.name) throw new FlatsyncError(`the server's codec is ${welcome.codec}`);
    this.replica.expectSession(welcome.session);
    this.welcome = welcome;
    this.attempt = 0;
    this.stopTimer();
    this.timer = setInterval(() => {
      const ping = new Uint8Array(8);
      new DataView(ping.buffer).setFloat64(0, performance.now());
      this.write(message(PING, ping));
    }, this.options.pingInterval);
    this.welcomeHandlers.forEach((h) => h(welcome));
  }
}
