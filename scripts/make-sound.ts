// Makes src/views/assets/new-message.wav: a soft two-note chime (E6 then A5), 16-bit mono
// PCM at 22.05 kHz, with a short attack and an exponential decay. Run: bun scripts/make-sound.ts

const rate = 22050;
const notes = [
  { freq: 1318.5, start: 0, length: 0.35 },
  { freq: 880, start: 0.16, length: 0.6 },
];
const total = Math.ceil(rate * 0.8);
const samples = new Float64Array(total);
for (const n of notes) {
  const from = Math.floor(n.start * rate);
  const count = Math.floor(n.length * rate);
  for (let i = 0; i < count && from + i < total; i++) {
    const t = i / rate;
    const env = Math.min(1, t / 0.005) * Math.exp(-t * 6);
    samples[from + i]! += 0.35 * env * (Math.sin(2 * Math.PI * n.freq * t) + 0.2 * Math.sin(4 * Math.PI * n.freq * t));
  }
}
const data = Buffer.alloc(total * 2);
for (let i = 0; i < total; i++) data.writeInt16LE(Math.round(Math.max(-1, Math.min(1, samples[i]!)) * 32767), i * 2);
const header = Buffer.alloc(44);
header.write("RIFF", 0);
header.writeUInt32LE(36 + data.length, 4);
header.write("WAVE", 8);
header.write("fmt ", 12);
header.writeUInt32LE(16, 16);
header.writeUInt16LE(1, 20); // PCM
header.writeUInt16LE(1, 22); // mono
header.writeUInt32LE(rate, 24);
header.writeUInt32LE(rate * 2, 28);
header.writeUInt16LE(2, 32);
header.writeUInt16LE(16, 34);
header.write("data", 36);
header.writeUInt32LE(data.length, 40);
await Bun.write(new URL("../src/views/assets/new-message.wav", import.meta.url), Buffer.concat([header, data]));
