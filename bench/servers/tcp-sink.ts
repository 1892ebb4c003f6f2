// The plain-copy baseline of the attachment figure, receiving side: takes one TCP
// connection, writes what arrives to a file, and once EXPECTED bytes are in, fsyncs it
// (the client store commits with synchronous = FULL) and prints "done".
//
// usage: bun bench/servers/tcp-sink.ts PORT FILE EXPECTED

import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";

const [port, file, expected] = process.argv.slice(2);
const want = Number(expected);
const fd = openSync(file!, "w", 0o600);
let got = 0;

const server = Bun.listen({
  hostname: "127.0.0.1",
  port: Number(port),
  socket: {
    data(_s, d) {
      writeSync(fd, d);
      got += d.length;
      if (got === want) {
        fsyncSync(fd);
        closeSync(fd);
        console.log(`done ${got}`);
      }
    },
  },
});

console.log(`listening on 127.0.0.1:${server.port}`);
