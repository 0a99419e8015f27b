#!/usr/bin/env node
// webhook-recorder.mjs: a webhook receiver that writes each request it gets as one
// exchange line for validate.mjs ({"kind": "webhook", ...}), so that the requests
// hauld makes are checked against the spec's webhooks like its answers.
//
//   node webhook-recorder.mjs --port-file FILE --out FILE.jsonl [--fail N]
//
// Listens on 127.0.0.1, a port of the kernel's choice written to --port-file once it
// listens; answers the first N requests 500 (so that hauld retries) and the rest 200.
import fs from "node:fs";
import http from "node:http";

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2)
	args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
if (!args["port-file"] || !args.out) {
	console.error("usage: webhook-recorder.mjs --port-file FILE --out FILE [--fail N]");
	process.exit(2);
}
const fail = Number(args.fail || 0);
let n = 0;

const server = http.createServer((req, res) => {
	const chunks = [];
	req.on("data", (c) => chunks.push(c));
	req.on("end", () => {
		n++;
		const status = n <= fail ? 500 : 200;
		const headers = {};
		for (const [k, v] of Object.entries(req.headers))
			headers[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
		fs.appendFileSync(args.out, JSON.stringify({
			kind: "webhook",
			label: `webhook request ${n} (answered ${status})`,
			name: headers["x-hauld-event"] ?? "(no X-Hauld-Event)",
			method: req.method,
			path: req.url,
			headers,
			content_type: headers["content-type"] ?? "",
			body: Buffer.concat(chunks).toString("utf8"),
			answered: status,
		}) + "\n");
		res.writeHead(status, { "Content-Length": "0" });
		res.end();
	});
});
server.listen(0, "127.0.0.1", () => {
	const tmp = `${args["port-file"]}.tmp`;
	fs.writeFileSync(tmp, String(server.address().port));
	fs.renameSync(tmp, args["port-file"]);
});
for (const sig of ["SIGTERM", "SIGINT"])
	process.on(sig, () => process.exit(0));
