import { signUp, startTestServer } from "/work/main/tests/test_server.ts";
await using server = await startTestServer({ worker: true, config: { quotaBytes: 2 * 1024 * 1024 } });
const user = await signUp(server);
const form = new FormData();
form.append("file", new File([new Uint8Array(3 * 1024 * 1024)], "big.bin"));
const r = await fetch(`${server.url}/api/files`, { method: "POST", headers: user.headers, body: form });
console.log(r.status, await r.text());
await new Promise((r) => setTimeout(r, 500));
console.log("still alive");
