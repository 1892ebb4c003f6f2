// The baseline of the handshake rate: a plain TCP server in Bun that answers a login's
// record sizes (SPEC.md §3.1: 1,223 bytes in, 1,215 out, 70 in, 22 out) with zero bytes, no
// crypto and no directory: accept, two round trips, close, as the relay's sockets do it.
//
// usage: bun bench/servers/tcp-handshake.ts PORT

const MSG1 = 2 + 1221;
const MSG2 = 2 + 1213;
const MSG3 = 2 + 65 + 3;
const RESULT = 2 + 20;

type Conn = { got: number };

const server = Bun.listen<Conn>({
  hostname: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  socket: {
    open(s) {
      s.data = { got: 0 };
    },
    data(s, d) {
      s.data.got += d.length;
      if (s.data.got === MSG1) s.write(new Uint8Array(MSG2));
      else if (s.data.got === MSG1 + MSG3) s.write(new Uint8Array(RESULT));
    },
  },
});

console.log(`listening on 127.0.0.1:${server.port}`);
