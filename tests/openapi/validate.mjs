#!/usr/bin/env node
// validate.mjs: checks api/openapi.yaml, and answers recorded from running hauld
// daemons against it, so that the description cannot drift from the code.
//
//   node validate.mjs --spec api/openapi.yaml [--src DIR]
//                     [--exchanges FILE.jsonl --unexercised FILE]
//
// The document: valid OpenAPI 3.1 (@seriousme/openapi-schema-validator), every $ref
// resolves, every schema compiles with Ajv's JSON Schema 2020-12 in strict mode, and
// the examples validate. With --src (the repository), its enums are compared with
// the tables they come from: error codes and statuses (src/apierror.c), phases
// (src/engine_int.h), options (src/api.c), migration types (src/types/*.c), job
// states (src/job.c) and CRIU log names (src/criu.c).
//
// Each line of --exchanges is one recorded answer:
//   {"label", "method", "template", "path", "status", "content_type", "headers",
//    "body", "request_body"?}
// where template is the spec's path ("/migrations/{id}") or "(unrouted)", headers
// an object of lower-case names; or a webhook request hauld made:
//   {"kind": "webhook", "label", "name", "method", "headers", "content_type", "body"}.
// For each: the path and method are in the spec (a method the path does not list
// takes its x-other-methods, a path not listed x-unrouted), the status is documented,
// the content type is one of the response's, the body validates (JSON against its
// schema, each server-sent event's data against x-sse, Prometheus text line by line),
// the required headers are there and valid; an answer 2xx must also have had
// parameters and a body the spec allows.
//
// Then coverage: every documented (method, path, status) must have been seen, except
// those --unexercised names, one a line "METHOD TEMPLATE STATUS reason..." (each of
// the first three may be "*"; METHOD "OTHER" is a path's x-other-methods, TEMPLATE
// "(unrouted)" is x-unrouted, "WEBHOOK NAME *" a webhook). A success status can never
// be excused; an excuse that excuses nothing unseen is an error too.
//
// Exit 0 when everything holds, 1 with every problem listed otherwise.
import fs from "node:fs";
import path from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import YAML from "yaml";

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const ROOT_ID = "https://hauld.invalid/openapi.yaml";
const UNROUTED = "(unrouted)";

const problems = [];
const notes = [];
function problem(where, msg) {
	problems.push(`${where}: ${msg}`);
}

function parseArgs(argv) {
	const out = {};
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (!a.startsWith("--") || i + 1 >= argv.length) {
			console.error(`validate.mjs: bad argument ${a}`);
			process.exit(2);
		}
		out[a.slice(2)] = argv[++i];
	}
	if (!out.spec) {
		console.error("usage: validate.mjs --spec FILE [--src DIR] [--exchanges FILE --unexercised FILE]");
		process.exit(2);
	}
	return out;
}

// ---- the document and its references ----

function pointerGet(doc, ref, where) {
	if (!ref.startsWith("#/")) {
		problem(where, `$ref ${ref} is not a reference into this document`);
		return undefined;
	}
	let o = doc;
	for (const raw of ref.slice(2).split("/")) {
		const part = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
		if (o === null || typeof o !== "object" || !(part in o)) {
			problem(where, `$ref ${ref} does not resolve`);
			return undefined;
		}
		o = o[part];
	}
	return o;
}

// Follow $ref of a non-schema object (response, parameter, header).
function deref(doc, o, where) {
	for (let n = 0; o && typeof o === "object" && typeof o.$ref === "string"; n++) {
		if (n > 16) {
			problem(where, "a $ref loop");
			return undefined;
		}
		o = pointerGet(doc, o.$ref, where);
	}
	return o;
}

function checkRefs(doc, o, where) {
	if (Array.isArray(o)) {
		o.forEach((v, i) => checkRefs(doc, v, `${where}/${i}`));
	} else if (o && typeof o === "object") {
		if (typeof o.$ref === "string")
			pointerGet(doc, o.$ref, where);
		for (const [k, v] of Object.entries(o))
			checkRefs(doc, v, `${where}/${k}`);
	}
}

// A copy of a schema whose local references point into the document by its id, so
// that it compiles on its own and its $refs resolve in the document.
function absolute(o) {
	if (Array.isArray(o))
		return o.map(absolute);
	if (!o || typeof o !== "object")
		return o;
	const c = {};
	for (const [k, v] of Object.entries(o))
		c[k] = k === "$ref" && typeof v === "string" && v.startsWith("#") ? ROOT_ID + v : absolute(v);
	return c;
}

function makeAjv(doc) {
	const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false,
				  strictRequired: false, allowUnionTypes: true });
	addFormats(ajv);
	// The document itself, so that "#/components/schemas/X" resolves; its own
	// top-level words are not schema keywords.
	ajv.addVocabulary(["openapi", "info", "jsonSchemaDialect", "servers", "paths", "webhooks",
			   "components", "security", "tags", "externalDocs", "x-unrouted"]);
	ajv.addSchema({ ...doc, $id: ROOT_ID });
	const cache = new WeakMap();
	return {
		ajv,
		validator(schema, where) {
			if (schema === undefined)
				return null;
			if (typeof schema === "boolean" || !cache.has(schema)) {
				try {
					const v = ajv.compile(absolute(schema));
					if (typeof schema === "boolean")
						return v;
					cache.set(schema, v);
				} catch (e) {
					problem(where, `the schema does not compile: ${e.message}`);
					return null;
				}
			}
			return cache.get(schema);
		},
	};
}

function errorsText(v) {
	return (v.errors || []).slice(0, 8)
		.map((e) => `${e.instancePath || "(body)"} ${e.message}${e.params && Object.keys(e.params).length ? " " + JSON.stringify(e.params) : ""}`)
		.join("; ");
}

async function checkDocument(file) {
	const text = fs.readFileSync(file, "utf8");
	const doc = YAML.parse(text);
	const v = new Validator();
	const res = await v.validate(doc);
	if (!res.valid)
		problem(file, `not a valid OpenAPI document: ${JSON.stringify(res.errors).slice(0, 2000)}`);
	else if (v.version !== "3.1")
		problem(file, `OpenAPI ${v.version}, not 3.1`);
	if (doc.jsonSchemaDialect !== "https://json-schema.org/draft/2020-12/schema")
		problem(file, "jsonSchemaDialect is not JSON Schema 2020-12");
	checkRefs(doc, doc, "#");
	return doc;
}

function checkSchemasAndExamples(doc, V) {
	for (const [name, s] of Object.entries(doc.components?.schemas || {})) {
		const where = `#/components/schemas/${name}`;
		const val = V.validator(s, where);
		for (const [i, ex] of (s.examples || []).entries())
			if (val && !val(ex))
				problem(`${where}/examples/${i}`, errorsText(val));
	}
	// Media types' examples, wherever they are.
	const walk = (o, where) => {
		if (!o || typeof o !== "object")
			return;
		if (o.schema !== undefined && o.examples && typeof o.examples === "object" && !Array.isArray(o.examples)) {
			const val = V.validator(o.schema, where);
			for (const [k, ex] of Object.entries(o.examples)) {
				const e = deref(doc, ex, `${where}/examples/${k}`);
				if (val && e && "value" in e && !val(e.value))
					problem(`${where}/examples/${k}`, errorsText(val));
			}
		}
		for (const [k, v] of Object.entries(o))
			if (k !== "schema")
				walk(v, `${where}/${k}`);
	};
	walk(doc.paths, "#/paths");
	walk(doc.webhooks, "#/webhooks");
}

// ---- the enums against the tables of the C sources ----

function setDiff(a, b) {
	return [...a].filter((x) => !b.has(x));
}

function compareSet(where, what, spec, src) {
	const s = new Set(spec), c = new Set(src);
	const missing = setDiff(c, s), extra = setDiff(s, c);
	if (c.size === 0)
		problem(where, `found no ${what} in the sources`);
	if (missing.length)
		problem(where, `${what} in the code but not in the spec: ${missing.join(", ")}`);
	if (extra.length)
		problem(where, `${what} in the spec but not in the code: ${extra.join(", ")}`);
}

function checkSources(doc, V, src) {
	const read = (f) => fs.readFileSync(path.join(src, f), "utf8");
	const S = doc.components.schemas;

	// Error codes, and the status each belongs to.
	const status = new Map();
	for (const m of read("src/apierror.c").matchAll(/\[AE_\w+\]\s*=\s*\{\s*(\d+),\s*"([a-z_]+)"\s*\}/g))
		status.set(m[2], Number(m[1]));
	compareSet("#/components/schemas/ErrorCode", "error codes", S.ErrorCode.enum, status.keys());
	// Each error answer's schema admits only codes of its own status.
	const each = (item, where, fn) => {
		for (const m of METHODS)
			if (item[m])
				for (const [st, r] of Object.entries(item[m].responses || {}))
					fn(st, r, `${where}/${m}/responses/${st}`);
		for (const [st, r] of Object.entries(item["x-other-methods"]?.responses || {}))
			fn(st, r, `${where}/x-other-methods/responses/${st}`);
	};
	const checkErr = (st, r, where) => {
		const resp = deref(doc, r, where);
		const schema = resp?.content?.["application/json"]?.schema;
		if (!/^[45]\d\d$/.test(st))
			return;
		if (!schema) {
			problem(where, "an error answer without an application/json schema");
			return;
		}
		const val = V.validator(schema, where);
		if (!val)
			return;
		const ok = [...status.keys()].filter((code) =>
			val({ error: { code, message: "m", field: "f" } }) ||
			val({ error: { code, message: "m", field: null } }));
		if (ok.length === 0)
			problem(where, "admits no error code");
		for (const code of ok)
			if (status.get(code) !== Number(st))
				problem(where, `admits ${code}, which src/apierror.c answers with ${status.get(code)}`);
	};
	for (const [p, item] of Object.entries(doc.paths))
		each(item, `#/paths/${p}`, checkErr);
	for (const [st, r] of Object.entries(doc["x-unrouted"]?.responses || {}))
		checkErr(st, r, `#/x-unrouted/responses/${st}`);

	const phases = [...read("src/engine_int.h").matchAll(/#define\s+PH_\w+\s+"([a-z_-]+)"/g)].map((m) => m[1]);
	compareSet("#/components/schemas/Phase", "phases", S.Phase.enum, phases);

	const states = [...read("src/job.c").matchAll(/\[JOB_[A-Z]+\]\s*=\s*"([a-z]+)"/g)].map((m) => m[1]);
	const roles = states.filter((x) => x === "source" || x === "destination");
	compareSet("#/components/schemas/JobState", "job states", S.JobState.enum,
		   states.filter((x) => !roles.includes(x)));
	compareSet("#/components/schemas/Role", "roles", S.Role.enum, roles);

	const types = [];
	for (const f of fs.readdirSync(path.join(src, "src/types")).filter((f) => f.endsWith(".c")))
		for (const m of read(`src/types/${f}`).matchAll(/\.type\s*=\s*"([a-z]+)"/g))
			types.push(m[1]);
	compareSet("#/components/schemas/MigrationType", "migration types", S.MigrationType.enum, types);

	const table = read("src/api.c").match(/option_table\[\]\s*=\s*\{([\s\S]*?)\n\};/);
	const opts = new Map();
	const enums = new Map();
	for (const m of (table ? table[1] : "").matchAll(/\{\s*"(\w+)",\s*OPT_(BOOL|INT|PATHS|ENUM)[^}]*?(\w+_values)?\s*\}/g)) {
		opts.set(m[1], { BOOL: "boolean", INT: "integer", PATHS: "array", ENUM: "string" }[m[2]]);
		if (m[2] === "ENUM")
			enums.set(m[1], m[3]);
	}
	compareSet("#/components/schemas/Options", "options", Object.keys(S.Options.properties), opts.keys());
	for (const [name, type] of opts)
		if (S.Options.properties[name] && S.Options.properties[name].type !== type)
			problem(`#/components/schemas/Options/properties/${name}`, `type ${S.Options.properties[name].type}, the code takes ${type}`);
	// An option of a few values: the spec's enum is the code's list.
	for (const [name, arr] of enums) {
		const list = arr && read("src/api.c").match(new RegExp(`${arr}\\[\\]\\s*=\\s*\\{([^}]*)\\}`));
		if (S.Options.properties[name])
			compareSet(`#/components/schemas/Options/properties/${name}`, `values of ${name}`,
				   S.Options.properties[name].enum || [],
				   list ? [...list[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]) : []);
	}

	const logs = read("src/criu.c").match(/criu_log_names\[[^\]]*\]\s*=\s*\{([^}]*)\}/);
	compareSet("#/components/schemas/Log/properties/name", "CRIU log names", S.Log.properties.name.enum,
		   logs ? [...logs[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]) : []);
}

// ---- answers ----

function templateRegex(t) {
	const re = t.split(/(\{[^}]+\})/).map((part) =>
		part.startsWith("{") ? "([^/]+)" : part.replace(/[.*+?^$()|[\]\\]/g, "\\$&")).join("");
	return new RegExp(`^${re}$`);
}

function mediaParse(ct) {
	const [base, ...params] = String(ct || "").split(";");
	const p = {};
	for (const kv of params) {
		const i = kv.indexOf("=");
		if (i > 0)
			p[kv.slice(0, i).trim().toLowerCase()] = kv.slice(i + 1).trim();
	}
	return { base: base.trim().toLowerCase(), params: p };
}

// The content key a Content-Type matches: the same type, and every parameter the key
// names with the same value.
function mediaMatch(content, ct) {
	const got = mediaParse(ct);
	for (const key of Object.keys(content || {})) {
		const want = mediaParse(key);
		if (want.base === got.base && Object.entries(want.params).every(([k, v]) => got.params[k] === v))
			return key;
	}
	return null;
}

// Server-sent events (WHATWG HTML, "Interpreting an event stream").
function parseSse(text) {
	const events = [];
	let cur = { data: [], id: undefined, event: undefined }, touched = false;
	const lines = text.split(/\r\n|\r|\n/);
	const complete = /(\r\n|\r|\n)$/.test(text) || text === "";
	if (complete)
		lines.pop();
	for (const line of lines) {
		if (line === "") {
			if (cur.data.length)
				events.push({ ...cur, data: cur.data.join("\n") });
			cur = { data: [], id: undefined, event: undefined };
			touched = false;
			continue;
		}
		touched = true;
		if (line.startsWith(":"))
			continue;
		const i = line.indexOf(":");
		const field = i < 0 ? line : line.slice(0, i);
		let value = i < 0 ? "" : line.slice(i + 1);
		if (value.startsWith(" "))
			value = value.slice(1);
		if (field === "data")
			cur.data.push(value);
		else if (field === "id")
			cur.id = value;
		else if (field === "event")
			cur.event = value;
		else if (field !== "retry")
			return { events, error: `unknown field "${field}"` };
		else if (!/^\d+$/.test(value))
			return { events, error: `retry "${value}" is not a number` };
	}
	return { events, error: touched || !complete ? "the stream ends in the middle of an event" : null };
}

// The Prometheus text exposition format 0.0.4, line by line.
function checkPrometheus(text) {
	const name = "[a-zA-Z_:][a-zA-Z0-9_:]*";
	const label = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
	const sample = new RegExp(`^(${name})(\\{(?:${label}(?:,${label})*,?)?\\})? (-?[0-9.eE+-]+|[+-]Inf|NaN)( -?[0-9]+)?$`);
	const types = new Map();
	const errs = [];
	let samples = 0;
	for (const [n, line] of text.split("\n").entries()) {
		let m;
		if (line === "" || /^# HELP /.test(line))
			continue;
		if ((m = line.match(new RegExp(`^# TYPE (${name}) (counter|gauge|histogram|summary|untyped)$`)))) {
			if (types.has(m[1]))
				errs.push(`line ${n + 1}: a second TYPE for ${m[1]}`);
			types.set(m[1], m[2]);
		} else if (line.startsWith("#")) {
			continue;
		} else if ((m = line.match(sample))) {
			const fam = [m[1], m[1].replace(/_(bucket|sum|count)$/, "")].find((f) => types.has(f));
			if (!fam)
				errs.push(`line ${n + 1}: ${m[1]} has no TYPE before it`);
			else if (fam !== m[1] && !["histogram", "summary"].includes(types.get(fam)))
				errs.push(`line ${n + 1}: ${m[1]} in ${types.get(fam)} ${fam}`);
			samples++;
		} else {
			errs.push(`line ${n + 1}: not a sample: ${line.slice(0, 80)}`);
		}
		if (errs.length > 5)
			break;
	}
	if (samples === 0)
		errs.push("no samples");
	return errs;
}

function checkParams(doc, V, params, ex, where) {
	const [p, q = ""] = ex.path.split("?");
	const query = new URLSearchParams(q);
	const m = ex.template === UNROUTED ? null : p.match(templateRegex(ex.template));
	const names = ex.template.match(/\{[^}]+\}/g) || [];
	for (const raw of params) {
		const prm = deref(doc, raw, where);
		if (!prm || !["path", "query"].includes(prm.in))
			continue;
		let value = prm.in === "path" && m ? decodeURIComponent(m[1 + names.indexOf(`{${prm.name}}`)] ?? "") :
			    prm.in === "query" ? query.get(prm.name) : null;
		if (value === null || value === undefined) {
			if (prm.required)
				problem(where, `a 2xx answer without the required ${prm.in} parameter ${prm.name}`);
			continue;
		}
		const s = prm.schema?.$ref ? pointerGet(doc, prm.schema.$ref, where) : prm.schema;
		if (s && s.type === "integer") {
			if (!/^-?[0-9]+$/.test(value)) {
				problem(where, `answered 2xx to ${prm.name}=${value}, which the spec says is not an integer`);
				continue;
			}
			value = Number(value);
		}
		const val = V.validator(prm.schema, where);
		if (val && !val(value))
			problem(where, `answered 2xx to ${prm.in} parameter ${prm.name}=${JSON.stringify(value)}, which the spec refuses: ${errorsText(val)}`);
	}
}

function checkBody(doc, V, media, key, ex, where) {
	const mt = media[key];
	const val = V.validator(mt.schema, `${where} ${key}`);
	const body = ex.body ?? "";
	const base = mediaParse(key).base;
	if (base === "application/json" || base.endsWith("+json")) {
		let j;
		try {
			j = JSON.parse(body);
		} catch (e) {
			problem(where, `the body is not JSON: ${e.message}: ${body.slice(0, 200)}`);
			return null;
		}
		if (val && !val(j))
			problem(where, `the body does not match the schema: ${errorsText(val)}; body ${body.slice(0, 400)}`);
		return j;
	}
	if (val && !val(body))
		problem(where, `the body does not match the schema: ${errorsText(val)}`);
	if (base === "text/event-stream" && mt["x-sse"]) {
		const x = mt["x-sse"];
		const { events, error } = parseSse(body);
		if (error)
			problem(where, `event stream: ${error}`);
		const dval = V.validator(x.data, `${where} x-sse`);
		for (const [i, e] of events.entries()) {
			let d;
			try {
				d = JSON.parse(e.data);
			} catch (err) {
				problem(where, `event ${i}: data is not JSON: ${e.data.slice(0, 200)}`);
				continue;
			}
			if (dval && !dval(d))
				problem(where, `event ${i} (id ${e.id}): data does not match the schema: ${errorsText(dval)}; data ${e.data.slice(0, 400)}`);
			if (x.id && String(d?.[x.id]) !== e.id)
				problem(where, `event ${i}: SSE id "${e.id}" is not the data's ${x.id} ${d?.[x.id]}`);
			if (x.event && String(d?.[x.event]) !== e.event)
				problem(where, `event ${i}: SSE event "${e.event}" is not the data's ${x.event} ${d?.[x.event]}`);
		}
		ex.sseEvents = events.length;
	}
	if (key.replace(/\s+/g, "") === "text/plain;version=0.0.4")
		for (const e of checkPrometheus(body))
			problem(where, `Prometheus text: ${e}`);
	return null;
}

function checkHeaders(doc, V, headers, ex, where) {
	for (const [name, raw] of Object.entries(headers || {})) {
		const h = deref(doc, raw, where);
		const got = ex.headers?.[name.toLowerCase()];
		if (got === undefined) {
			if (h?.required)
				problem(where, `the required header ${name} is missing`);
			continue;
		}
		const val = V.validator(h?.schema, `${where} header ${name}`);
		if (val && !val(got))
			problem(where, `header ${name}: "${got}": ${errorsText(val)}`);
	}
}

function checkAnswer(doc, V, ex, seen) {
	const where = `[${ex.label}] ${ex.method} ${ex.path} -> ${ex.status}`;
	const p = String(ex.path || "").split("?")[0];
	let item;
	if (ex.template === UNROUTED) {
		item = doc["x-unrouted"];
		const hit = Object.keys(doc.paths).find((t) => templateRegex(t).test(p));
		if (hit) {
			problem(where, `recorded as unrouted, but the spec's ${hit} matches it`);
			return;
		}
	} else {
		item = doc.paths[ex.template];
		if (!item) {
			problem(where, `no path ${ex.template} in the spec`);
			return;
		}
		if (!templateRegex(ex.template).test(p)) {
			problem(where, `the path does not match ${ex.template}`);
			return;
		}
	}
	const method = String(ex.method).toLowerCase();
	const op = ex.template === UNROUTED ? undefined : item[method];
	const responses = op ? op.responses : ex.template === UNROUTED ? item?.responses :
		item["x-other-methods"]?.responses;
	const opKey = op ? ex.method.toUpperCase() : "OTHER";
	if (!responses) {
		problem(where, `${ex.method} is not an operation of ${ex.template}, and it has no x-other-methods`);
		return;
	}
	const st = String(ex.status);
	const resp = deref(doc, responses[st], where);
	if (!resp) {
		problem(where, `status ${st} is not documented for ${opKey} ${ex.template} (documented: ${Object.keys(responses).join(", ")})`);
		return;
	}
	seen.add(`${opKey} ${ex.template} ${st}`);
	if (/^2/.test(st) && op) {
		checkParams(doc, V, [...(item.parameters || []), ...(op.parameters || [])], ex, where);
		if (ex.request_body !== undefined && op.requestBody) {
			const rb = deref(doc, op.requestBody, where);
			const key = mediaMatch(rb?.content, "application/json");
			const val = key ? V.validator(rb.content[key].schema, where) : null;
			let j;
			try {
				j = JSON.parse(ex.request_body);
			} catch {
				problem(where, "answered 2xx to a request body that is not JSON");
			}
			if (j !== undefined && val && !val(j))
				problem(where, `answered 2xx to a request body the spec refuses: ${errorsText(val)}`);
		}
	}
	checkHeaders(doc, V, resp.headers, ex, where);
	if (!resp.content) {
		if (ex.body)
			problem(where, "a body where the spec has none");
		return;
	}
	const key = mediaMatch(resp.content, ex.content_type);
	if (!key) {
		problem(where, `Content-Type "${ex.content_type}" is none of ${Object.keys(resp.content).join(", ")}`);
		return;
	}
	const j = checkBody(doc, V, resp.content, key, ex, where);
	if (ex.template === "/healthz" && st === "200" && j && j.version !== doc.info.version)
		problem(where, `the daemon is version ${j.version}, the spec's info.version ${doc.info.version}`);
}

function checkWebhook(doc, V, ex, seen) {
	const where = `[${ex.label}] webhook ${ex.name}`;
	const item = doc.webhooks?.[ex.name];
	const op = item?.[String(ex.method).toLowerCase()];
	if (!op) {
		problem(where, `no webhook ${ex.name} with ${ex.method} in the spec`);
		return;
	}
	seen.add(`WEBHOOK ${ex.name} ${ex.method.toUpperCase()}`);
	for (const raw of op.parameters || []) {
		const prm = deref(doc, raw, where);
		if (prm?.in !== "header")
			continue;
		const got = ex.headers?.[prm.name.toLowerCase()];
		if (got === undefined) {
			if (prm.required)
				problem(where, `the required header ${prm.name} is missing`);
			continue;
		}
		const val = V.validator(prm.schema, where);
		if (val && !val(got))
			problem(where, `header ${prm.name}: "${got}": ${errorsText(val)}`);
	}
	const rb = deref(doc, op.requestBody, where);
	const key = mediaMatch(rb?.content, ex.content_type);
	if (!key) {
		problem(where, `Content-Type "${ex.content_type}" is none of ${Object.keys(rb?.content || {}).join(", ")}`);
		return;
	}
	checkBody(doc, V, rb.content, key, ex, where);
}

// ---- coverage ----

function documented(doc) {
	const all = [];
	for (const [t, item] of Object.entries(doc.paths)) {
		for (const m of METHODS)
			for (const st of Object.keys(item[m]?.responses || {}))
				all.push(`${m.toUpperCase()} ${t} ${st}`);
		for (const st of Object.keys(item["x-other-methods"]?.responses || {}))
			all.push(`OTHER ${t} ${st}`);
	}
	for (const st of Object.keys(doc["x-unrouted"]?.responses || {}))
		all.push(`OTHER ${UNROUTED} ${st}`);
	for (const [name, item] of Object.entries(doc.webhooks || {}))
		for (const m of METHODS)
			if (item[m])
				all.push(`WEBHOOK ${name} ${m.toUpperCase()}`);
	return all;
}

function readExcuses(file) {
	const out = [];
	for (const [n, raw] of fs.readFileSync(file, "utf8").split("\n").entries()) {
		const line = raw.trim();
		if (!line || line.startsWith("#"))
			continue;
		const [m, t, s, ...why] = line.split(/\s+/);
		if (!s || why.length === 0)
			problem(`${file}:${n + 1}`, "want METHOD TEMPLATE STATUS REASON");
		else
			out.push({ key: [m, t, s], why: why.join(" "), used: false, line: n + 1 });
	}
	return out;
}

function coverage(doc, seen, excuses, file) {
	const matches = (e, key) => key.split(" ").every((part, i) => e.key[i] === "*" || e.key[i] === part);
	const unseen = documented(doc).filter((k) => !seen.has(k));
	for (const k of unseen) {
		const [m, , st] = k.split(" ");
		const e = excuses.find((x) => matches(x, k));
		if (/^2/.test(st) || m === "WEBHOOK" && !e) {
			problem("coverage", `${k} was never exercised (a success must be)`);
			continue;
		}
		if (!e) {
			problem("coverage", `${k} was never exercised, and ${file} gives no reason`);
			continue;
		}
		e.used = true;
		notes.push(`not exercised: ${k} (${e.why})`);
	}
	for (const e of excuses)
		if (!e.used)
			problem(`${file}:${e.line}`, `"${e.key.join(" ")}" excuses nothing left unexercised: remove it`);
	return unseen.length;
}

// ---- main ----

const args = parseArgs(process.argv.slice(2));
const doc = await checkDocument(args.spec);
const V = makeAjv(doc);
checkSchemasAndExamples(doc, V);
if (args.src)
	checkSources(doc, V, args.src);

let total = 0, sse = 0;
if (args.exchanges) {
	const seen = new Set();
	const lines = fs.readFileSync(args.exchanges, "utf8").split("\n").filter((l) => l.trim());
	for (const [n, line] of lines.entries()) {
		let ex;
		try {
			ex = JSON.parse(line);
		} catch (e) {
			problem(`${args.exchanges}:${n + 1}`, `not JSON: ${e.message}`);
			continue;
		}
		total++;
		if (ex.kind === "webhook")
			checkWebhook(doc, V, ex, seen);
		else
			checkAnswer(doc, V, ex, seen);
		sse += ex.sseEvents || 0;
	}
	const excuses = args.unexercised ? readExcuses(args.unexercised) : [];
	const unseen = coverage(doc, seen, excuses, args.unexercised || "--unexercised");
	const all = documented(doc).length;
	for (const n of notes)
		console.log(`  ..    ${n}`);
	console.log(`openapi: ${total} answers checked (${sse} server-sent events among them); ` +
		    `${all - unseen} of ${all} documented (method, path, status) exercised`);
}

if (problems.length) {
	console.log(`openapi: ${problems.length} problem(s):`);
	for (const p of problems)
		console.log(`  FAIL  ${p}`);
	process.exit(1);
}
console.log(`openapi: ${args.spec} is valid OpenAPI ${doc.openapi}` +
	    (args.src ? ", its enums match the sources" : "") +
	    (args.exchanges ? ", and every answer matches it" : ""));
