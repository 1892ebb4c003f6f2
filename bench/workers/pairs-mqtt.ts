// Load generator for the mosquitto baseline of the relay message rate: the same pairs,
// payload and window as pairs-smsg.ts, over MQTT 3.1.1 with TLS, through the npm `mqtt`
// client. The smsg relay forwards without storing and the recipient's ACK travels back
// through it; the faithful MQTT equivalent is QoS 0 (forwarded, not stored) with the
// subscriber publishing an acknowledgement on a reply topic, which frees the sender's slot.

import { readFileSync } from "node:fs";
import mqtt, { type MqttClient } from "mqtt";
import { RateWindow, servePairs } from "./rate-window.ts";

export interface PairsMqttConfig {
  t: "config";
  url: string;
  caFile: string;
  first: number; // index of this worker's first pair, for unique topics and client ids
  pairs: number;
  payloadBytes: number;
  window: number;
}

interface Pair {
  tx: MqttClient;
  rx: MqttClient;
  msgTopic: string;
  ackTopic: string;
  payloads: Buffer[];
  acks: Buffer[];
  sentAt: Float64Array;
  next: number;
  inflight: number;
}

const POOL = 16;
const win = new RateWindow();
let windowSize = 8;

function pump(p: Pair): void {
  while (win.running && p.inflight < windowSize) {
    const slot = p.next;
    p.next = (p.next + 1) % POOL;
    p.sentAt[slot] = performance.now();
    p.inflight++;
    p.tx.publish(p.msgTopic, p.payloads[slot]!, { qos: 0 });
  }
}

function connect(url: string, ca: Buffer, clientId: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { ca, clientId, protocolVersion: 4, reconnectPeriod: 0, keepalive: 60, clean: true });
    c.once("connect", () => resolve(c));
    c.once("error", reject);
  });
}

async function setup(c: PairsMqttConfig): Promise<Pair[]> {
  windowSize = c.window;
  const ca = readFileSync(c.caFile);
  const pairs: Pair[] = [];
  for (let i = 0; i < c.pairs; i++) {
    const n = c.first + i;
    const p: Pair = {
      tx: await connect(c.url, ca, `bench-tx-${n}`),
      rx: await connect(c.url, ca, `bench-rx-${n}`),
      msgTopic: `bench/${n}/m`,
      ackTopic: `bench/${n}/a`,
      payloads: [],
      acks: [],
      sentAt: new Float64Array(POOL),
      next: 0,
      inflight: 0,
    };
    for (let slot = 0; slot < POOL; slot++) {
      const b = Buffer.alloc(c.payloadBytes, 0x78);
      b.writeUInt32BE(slot, 0);
      p.payloads.push(b);
      const a = Buffer.alloc(4);
      a.writeUInt32BE(slot, 0);
      p.acks.push(a);
    }
    await p.rx.subscribeAsync(p.msgTopic, { qos: 0 });
    await p.tx.subscribeAsync(p.ackTopic, { qos: 0 });
    p.rx.on("message", (_t, payload) => {
      const slot = payload.readUInt32BE(0);
      win.arrived(p.sentAt[slot]!);
      p.rx.publish(p.ackTopic, p.acks[slot]!, { qos: 0 });
    });
    p.tx.on("message", () => {
      p.inflight--;
      pump(p);
    });
    pairs.push(p);
  }
  return pairs;
}

servePairs<PairsMqttConfig, Pair>(win, {
  setup,
  pump,
  end: (p) => {
    p.tx.end(true);
    p.rx.end(true);
  },
});
