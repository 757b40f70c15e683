// What the API server does with a custom resource before any webhook sees it, in the same order,
// driven by the CRD itself (not by the zod schemas it was generated from):
//   1. strict decoding: unknown fields are refused (kubectl's default --validate=strict);
//   2. nulls without `nullable` are dropped, then `default`s are filled in;
//   3. apiVersion/kind and ObjectMeta (name, generateName, labels, annotations) are validated;
//   4. the OpenAPI schema (kube-openapi semantics: types, required, enum, bounds, pattern as RE2,
//      formats) and x-kubernetes-list-type map/set uniqueness;
//   5. unless 4 found a "blocking" error, every x-kubernetes-validations CEL rule (transition rules
//      only on UPDATE, errors on unchanged values ratcheted away as the API server does).
// Sources: k8s.io/apiextensions-apiserver pkg/registry/customresource (strategy.go, validator.go)
// and pkg/apiserver/schema/cel/validation.go, v0.36.
import type { CrdRuleId } from "./catalog.ts";
import { type CelProgram, compileRule, toCelValue } from "./cel.ts";
import { validateObjectMeta } from "./metadata.ts";
import { re2ToJs } from "./re2.ts";

export interface Schema {
  type?: string;
  description?: string;
  format?: string;
  enum?: unknown[];
  default?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  nullable?: boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-map-type"?: string;
  "x-kubernetes-validations"?: ValidationRule[];
}

export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueRequired" | "FieldValueDuplicate";
  fieldPath?: string;
  optionalOldSelf?: boolean;
}

/** k8s.io/apimachinery field.ErrorType, as the API server reports it. */
export type ErrorType =
  | "FieldValueRequired"
  | "FieldValueInvalid"
  | "FieldValueNotSupported"
  | "FieldValueTooLong"
  | "FieldValueTooMany"
  | "FieldValueTypeInvalid"
  | "FieldValueDuplicate"
  | "FieldValueForbidden"
  | "UnknownField";

export interface CrdError {
  rule: CrdRuleId;
  /** Field path as the API server prints it ("" for the object itself). */
  path: string;
  type: ErrorType;
  /** What kubectl prints after "<path>: ". */
  message: string;
}

export interface CrdVersion {
  group: string;
  kind: string;
  version: string;
  schema: Schema;
  namespaced: boolean;
  statusSubresource: boolean;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** The served versions of a CRD object (apiextensions.k8s.io/v1). */
export function crdVersions(crd: unknown): CrdVersion[] {
  const c = crd as {
    spec: {
      group: string;
      scope: string;
      names: { kind: string };
      versions: {
        name: string;
        served: boolean;
        schema: { openAPIV3Schema: Schema };
        subresources?: { status?: unknown };
      }[];
    };
  };
  return c.spec.versions
    .filter((v) => v.served)
    .map((v) => ({
      group: c.spec.group,
      kind: c.spec.names.kind,
      version: v.name,
      schema: v.schema.openAPIV3Schema,
      namespaced: c.spec.scope === "Namespaced",
      statusSubresource: v.subresources?.status !== undefined,
    }));
}

// ---- path and value formatting (k8s.io/apimachinery/pkg/util/validation/field) -----------------

type Seg = string | number;

function child(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function pathOf(segs: Seg[]): string {
  let out = "";
  for (const s of segs) out = typeof s === "number" ? `${out}[${s}]` : child(out, s);
  return out;
}

/** How field.Error prints a value: strings quoted, numbers and booleans bare. */
function showValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (v === null || v === undefined) return "null";
  return JSON.stringify(typeof v);
}

/** Runes, as Go's utf8.RuneCountInString counts them (maxLength, minLength). */
const runeLength = (s: string) => [...s].length;

// ---- 1. strict decoding --------------------------------------------------------------------------

/** Fields of metav1.ObjectMeta, the only keys `metadata` may have. */
const OBJECT_META_FIELDS = new Set([
  "name",
  "generateName",
  "namespace",
  "selfLink",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields",
]);

function unknownFields(value: unknown, schema: Schema | undefined, segs: Seg[], out: string[]): void {
  if (!schema || schema["x-kubernetes-preserve-unknown-fields"]) return;
  if (isObj(value)) {
    if (schema.properties) {
      for (const [k, v] of Object.entries(value)) {
        const sub = schema.properties[k];
        if (sub) unknownFields(v, sub, [...segs, k], out);
        else if (!isObj(schema.additionalProperties)) out.push(pathOf([...segs, k]));
      }
    } else if (isObj(schema.additionalProperties)) {
      for (const [k, v] of Object.entries(value))
        unknownFields(v, schema.additionalProperties, [...segs, k], out);
    }
  } else if (Array.isArray(value) && schema.items) {
    value.forEach((v, i) => {
      unknownFields(v, schema.items, [...segs, i], out);
    });
  }
}

function metadataUnknownFields(meta: unknown): string[] {
  if (!isObj(meta)) return [];
  return Object.keys(meta)
    .filter((k) => !OBJECT_META_FIELDS.has(k))
    .map((k) => `metadata.${k}`);
}

// ---- 2. nulls and defaults (apiserver/schema/defaulting) -----------------------------------------

function pruneNullsAndDefault(value: Json, schema: Schema | undefined): Json {
  if (!schema) return value;
  if (isObj(value)) {
    const out: Obj = {};
    for (const [k, v] of Object.entries(value)) {
      const sub =
        schema.properties?.[k] ??
        (isObj(schema.additionalProperties) ? schema.additionalProperties : undefined);
      if (v === null && sub && !sub.nullable && sub.default === undefined && schema.properties?.[k]) continue;
      out[k] = v;
    }
    for (const [k, sub] of Object.entries(schema.properties ?? {})) {
      if (sub.default !== undefined && (!(k in out) || (out[k] === null && !sub.nullable)))
        out[k] = structuredClone(sub.default) as Json;
    }
    for (const [k, v] of Object.entries(out)) {
      const sub =
        schema.properties?.[k] ??
        (isObj(schema.additionalProperties) ? schema.additionalProperties : undefined);
      out[k] = pruneNullsAndDefault(v, sub);
    }
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => pruneNullsAndDefault(v, schema.items));
  return value;
}

// ---- 4. the OpenAPI schema (k8s.io/kube-openapi/pkg/validation/validate) -------------------------

const BLOCKING: ReadonlySet<ErrorType> = new Set([
  "FieldValueNotSupported",
  "FieldValueRequired",
  "FieldValueTooLong",
  "FieldValueTooMany",
  "FieldValueTypeInvalid",
]);

function typeMatches(value: unknown, type: string | undefined): boolean {
  switch (type) {
    case undefined:
      return true;
    case "object":
      return isObj(value);
    case "array":
      return Array.isArray(value);
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "number":
      return typeof value === "number";
    default:
      return false;
  }
}

function jsonTypeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/** kube-openapi's IsDateTime (strfmt): the `date-time` format the API server checks. */
export function isDateTime(str: string): boolean {
  if (str.length < 4) return false;
  const s = str.toLowerCase().split("t");
  if (s.length < 2 || !isDate(s[0]!)) return false;
  const m = /^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$/u.exec(s[1]!);
  if (!m) return false;
  return m[1]! <= "23" && m[2]! <= "59" && m[3]! <= "59";
}

/** Go's time.Parse("2006-01-02", s) succeeding. */
function isDate(s: string): boolean {
  const m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]!;
  return d <= days;
}

const FORMATS: Record<string, (s: string) => boolean> = {
  "date-time": isDateTime,
  datetime: isDateTime,
};

const patternCache = new Map<string, RegExp>();
function compiledPattern(p: string): RegExp {
  let re = patternCache.get(p);
  if (!re) {
    re = re2ToJs(p);
    patternCache.set(p, re);
  }
  return re;
}

/**
 * kube-openapi's SchemaValidator: validators apply by the value's kind (string, number, array,
 * object) with the schema's keywords; the type, enum and format validators are independent of
 * them. Within the string validator only the first of maxLength, minLength, pattern that fails is
 * reported; the number validator reports each of its checks.
 */
function validateSchema(value: Json, schema: Schema, segs: Seg[], out: CrdError[]): void {
  const path = pathOf(segs);
  const inBody = `${path} in body`;
  const err = (type: ErrorType, message: string, at = path) =>
    out.push({ rule: "crd.schema", path: at, type, message });
  if (value === null) {
    if (!schema.nullable && schema.type)
      err("FieldValueTypeInvalid", `Invalid value: "null": ${inBody} must be of type ${schema.type}: "null"`);
    return;
  }
  if (!typeMatches(value, schema.type)) {
    err(
      "FieldValueTypeInvalid",
      `Invalid value: ${JSON.stringify(jsonTypeName(value))}: ${inBody} must be of type ${schema.type}: ${JSON.stringify(jsonTypeName(value))}`,
    );
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    const values = schema.enum.map((e) => JSON.stringify(e)).join(", ");
    err("FieldValueNotSupported", `Unsupported value: ${showValue(value)}: supported values: ${values}`);
  }
  if (typeof value === "string") {
    const n = runeLength(value);
    if (schema.maxLength !== undefined && n > schema.maxLength)
      err("FieldValueTooLong", `Too long: may not be more than ${schema.maxLength} bytes`);
    else if (schema.minLength !== undefined && n < schema.minLength)
      err(
        "FieldValueInvalid",
        `Invalid value: ${showValue(value)}: ${inBody} should be at least ${schema.minLength} chars long`,
      );
    else if (schema.pattern !== undefined && !compiledPattern(schema.pattern).test(value))
      err(
        "FieldValueInvalid",
        `Invalid value: ${showValue(value)}: ${inBody} should match '${schema.pattern}'`,
      );
    // A format error is reported as a type error (so it blocks the CEL rules).
    const fmt = schema.format ? FORMATS[schema.format] : undefined;
    if (fmt && !fmt(value))
      err(
        "FieldValueTypeInvalid",
        `Invalid value: ${showValue(value)}: ${inBody} must be of type ${schema.format}: ${JSON.stringify(value)}`,
      );
  }
  if (typeof value === "number") {
    // IsValueValidAgainstRange: a non-integral value of an integer field is also reported on the
    // object itself (a composite error without a field).
    if (schema.type === "integer" && !Number.isInteger(value))
      err(
        "FieldValueInvalid",
        `Invalid value: "": Checked value must be of type integer (default format) in ${path}`,
        "",
      );
    if (schema.multipleOf !== undefined && value % schema.multipleOf !== 0)
      err(
        "FieldValueInvalid",
        `Invalid value: ${value}: ${inBody} should be a multiple of ${schema.multipleOf}`,
      );
    if (schema.minimum !== undefined) {
      const bad = schema.exclusiveMinimum ? value <= schema.minimum : value < schema.minimum;
      if (bad)
        err(
          "FieldValueInvalid",
          `Invalid value: ${value}: ${inBody} should be greater than ${schema.exclusiveMinimum ? "" : "or equal to "}${schema.minimum}`,
        );
    }
    if (schema.maximum !== undefined) {
      const bad = schema.exclusiveMaximum ? value >= schema.maximum : value > schema.maximum;
      if (bad)
        err(
          "FieldValueInvalid",
          `Invalid value: ${value}: ${inBody} should be less than ${schema.exclusiveMaximum ? "" : "or equal to "}${schema.maximum}`,
        );
    }
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems)
      err(
        "FieldValueInvalid",
        `Invalid value: ${value.length}: ${inBody} should have at least ${schema.minItems} items`,
      );
    if (schema.maxItems !== undefined && value.length > schema.maxItems)
      err("FieldValueTooMany", `Too many: ${value.length}: must have at most ${schema.maxItems} items`);
    if (schema.items) {
      value.forEach((v, i) => {
        validateSchema(v, schema.items!, [...segs, i], out);
      });
    }
  }
  if (isObj(value)) {
    const n = Object.keys(value).length;
    if (schema.maxProperties !== undefined && n > schema.maxProperties)
      err("FieldValueTooMany", `Too many: ${n}: must have at most ${schema.maxProperties} items`);
    if (schema.minProperties !== undefined && n < schema.minProperties)
      err(
        "FieldValueInvalid",
        `Invalid value: ${n}: ${inBody} should have at least ${schema.minProperties} properties`,
      );
    for (const r of schema.required ?? []) {
      if (!(r in value)) err("FieldValueRequired", "Required value", child(path, r));
    }
    for (const [k, v] of Object.entries(value)) {
      const sub =
        schema.properties?.[k] ??
        (isObj(schema.additionalProperties) ? schema.additionalProperties : undefined);
      if (sub) validateSchema(v, sub, [...segs, k], out);
    }
  }
}

// ---- x-kubernetes-list-type (apiserver/schema/listtype) -----------------------------------------

function goMapString(keys: string[], item: Obj): string {
  // Go prints map[string]interface {}{"name":"x"} for a duplicate map-list key.
  return `map[string]interface {}{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(item[k])}`).join(", ")}}`;
}

function listSetsAndMaps(value: Json, schema: Schema | undefined, segs: Seg[], out: CrdError[]): void {
  if (!schema) return;
  if (Array.isArray(value)) {
    const lt = schema["x-kubernetes-list-type"];
    const seen = new Set<string>();
    value.forEach((item, i) => {
      let key: string | undefined;
      if (lt === "set") key = JSON.stringify(item);
      else if (lt === "map" && isObj(item)) {
        const keys = schema["x-kubernetes-list-map-keys"] ?? [];
        key = JSON.stringify(keys.map((k) => item[k] ?? null));
        if (seen.has(key)) {
          out.push({
            rule: "crd.schema",
            path: pathOf([...segs, i]),
            type: "FieldValueDuplicate",
            message: `Duplicate value: ${goMapString(keys, item)}`,
          });
          return;
        }
      }
      if (key !== undefined) {
        if (lt === "set" && seen.has(key))
          out.push({
            rule: "crd.schema",
            path: pathOf([...segs, i]),
            type: "FieldValueDuplicate",
            message: `Duplicate value: ${showValue(item)}`,
          });
        seen.add(key);
      }
      listSetsAndMaps(item, schema.items, [...segs, i], out);
    });
  } else if (isObj(value)) {
    for (const [k, v] of Object.entries(value)) {
      const sub =
        schema.properties?.[k] ??
        (isObj(schema.additionalProperties) ? schema.additionalProperties : undefined);
      listSetsAndMaps(v, sub, [...segs, k], out);
    }
  }
}

// ---- 5. CEL rules (apiserver/schema/cel/validation.go) ------------------------------------------

const programs = new WeakMap<ValidationRule, CelProgram>();
function program(rule: ValidationRule): CelProgram {
  let p = programs.get(rule);
  if (!p) {
    p = compileRule(rule);
    programs.set(rule, p);
  }
  return p;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return false;
}

/** Correlation for ratcheting: the old value at the same place, if the schema lets it correlate. */
interface Correlation {
  /** The old value correlated with this node, when there is one. */
  old?: Json | undefined;
  correlated: boolean;
  /** Nearest correlatable ancestor (or self): equal to its old value → errors here are ratcheted. */
  ratchet: boolean;
}

function validateRules(
  value: Json,
  schema: Schema,
  segs: Seg[],
  corr: Correlation,
  isRoot: boolean,
  out: CrdError[],
): void {
  if (value === null) return;
  const path = pathOf(segs);
  for (const rule of schema["x-kubernetes-validations"] ?? []) {
    const p = program(rule);
    if (p.usesOldSelf && !corr.correlated && !rule.optionalOldSelf) continue;
    const addErr = (e: CrdError) => {
      if (!p.usesOldSelf && corr.ratchet) return;
      out.push(e);
    };
    const self = toCelValue(value, schema, isRoot);
    const oldSelf = corr.correlated ? toCelValue(corr.old ?? null, schema, isRoot) : undefined;
    const r = p.evaluate(self, oldSelf, corr.correlated);
    const typeName = schema.type ?? "object";
    if (r.error !== undefined) {
      addErr({
        rule: "crd.rule",
        path,
        type: "FieldValueInvalid",
        message: `Invalid value: ${JSON.stringify(typeName)}: ${r.error} evaluating rule: ${p.errorString}`,
      });
      continue;
    }
    if (r.ok) continue;
    // fieldPath (".svid.secretName") names where the error points, below this node.
    const fieldPath = rule.fieldPath ? child(path, rule.fieldPath.replace(/^\./, "")) : path;
    const detail = r.message ?? p.defaultMessage;
    const shown = typeName === "object" || typeName === "array" ? JSON.stringify(typeName) : showValue(value);
    switch (rule.reason) {
      case "FieldValueForbidden":
        addErr({
          rule: "crd.rule",
          path: fieldPath,
          type: "FieldValueForbidden",
          message: `Forbidden: ${detail}`,
        });
        break;
      case "FieldValueRequired":
        addErr({
          rule: "crd.rule",
          path: fieldPath,
          type: "FieldValueRequired",
          message: `Required value: ${detail}`,
        });
        break;
      case "FieldValueDuplicate":
        addErr({
          rule: "crd.rule",
          path: fieldPath,
          type: "FieldValueDuplicate",
          message: `Duplicate value: ${shown}`,
        });
        break;
      default:
        addErr({
          rule: "crd.rule",
          path: fieldPath,
          type: "FieldValueInvalid",
          message: `Invalid value: ${shown}: ${detail}`,
        });
    }
  }
  if (isObj(value)) {
    const oldObj = isObj(corr.old) ? corr.old : undefined;
    for (const [k, v] of Object.entries(value)) {
      const sub =
        schema.properties?.[k] ??
        (isObj(schema.additionalProperties) ? schema.additionalProperties : undefined);
      if (!sub) continue;
      const correlated =
        corr.correlated &&
        oldObj !== undefined &&
        k in oldObj &&
        !(isRoot && (k === "apiVersion" || k === "kind"));
      const old = correlated ? oldObj![k] : undefined;
      validateRules(
        v,
        sub,
        [...segs, k],
        { old, correlated, ratchet: correlated ? deepEqual(v, old) : corr.ratchet },
        false,
        out,
      );
    }
  } else if (Array.isArray(value) && schema.items) {
    const keys =
      schema["x-kubernetes-list-type"] === "map" ? (schema["x-kubernetes-list-map-keys"] ?? []) : undefined;
    const oldList = Array.isArray(corr.old) ? corr.old : [];
    value.forEach((item, i) => {
      // Only map lists correlate their items with the old list (by key); other lists do not.
      const old =
        keys && corr.correlated && isObj(item)
          ? oldList.find((o) => isObj(o) && keys.every((k) => deepEqual(o[k], item[k])))
          : undefined;
      const correlated = old !== undefined;
      validateRules(
        item,
        schema.items!,
        [...segs, i],
        { old, correlated, ratchet: correlated ? deepEqual(item, old) : corr.ratchet },
        false,
        out,
      );
    });
  }
}

// ---- the whole request ---------------------------------------------------------------------------

export interface ValidateOptions {
  /** UPDATE: the stored object. Enables transition rules (oldSelf) and ratcheting. */
  old?: unknown;
}

/** The API server's verdict on creating (or, with `old`, updating) one custom resource. */
export function validateCustomResource(
  input: unknown,
  crd: CrdVersion,
  opts: ValidateOptions = {},
): CrdError[] {
  if (!isObj(input)) {
    return [
      {
        rule: "crd.schema",
        path: "",
        type: "FieldValueInvalid",
        message: "Invalid value: the object is not a mapping",
      },
    ];
  }
  const unknown = [
    ...metadataUnknownFields(input.metadata),
    ...(() => {
      const out: string[] = [];
      const { metadata: _m, ...rest } = input;
      unknownFields(
        rest,
        {
          ...crd.schema,
          properties: {
            ...crd.schema.properties,
            metadata: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
          },
        },
        [],
        out,
      );
      return out;
    })(),
  ];
  if (unknown.length > 0) {
    return unknown.map((path) => ({
      rule: "crd.unknownField",
      path,
      type: "UnknownField",
      message: `strict decoding error: unknown field ${JSON.stringify(path)}`,
    }));
  }
  const prepare = (o: Obj): Obj => {
    const copy = pruneNullsAndDefault(structuredClone(o), crd.schema) as Obj;
    // The status subresource: the main resource never writes status (it is reset on create and
    // kept from the stored object on update), so it is not validated here.
    if (crd.statusSubresource) delete copy.status;
    return copy;
  };
  const obj = prepare(input);
  const old = isObj(opts.old) ? prepare(opts.old) : undefined;
  const errs: CrdError[] = [];
  if (obj.kind !== crd.kind)
    errs.push({
      rule: "crd.schema",
      path: "kind",
      type: "FieldValueInvalid",
      message: `Invalid value: ${showValue(obj.kind)}: must be ${crd.kind}`,
    });
  if (obj.apiVersion !== `${crd.group}/${crd.version}`)
    errs.push({
      rule: "crd.schema",
      path: "apiVersion",
      type: "FieldValueInvalid",
      message: `Invalid value: ${showValue(obj.apiVersion)}: must be ${crd.group}/${crd.version}`,
    });
  if (errs.length > 0) return errs;
  errs.push(...validateObjectMeta(obj.metadata, crd.namespaced));
  const schemaErrs: CrdError[] = [];
  validateSchema(obj, crd.schema, [], schemaErrs);
  // Ratcheting (UPDATE): schema errors on a value equal to the stored one are not reported.
  errs.push(...(old ? schemaErrs.filter((e) => !unchangedAt(obj, old, e.path)) : schemaErrs));
  const listErrs: CrdError[] = [];
  if (
    !old ||
    (() => {
      const o: CrdError[] = [];
      listSetsAndMaps(old, crd.schema, [], o);
      return o.length === 0;
    })()
  )
    listSetsAndMaps(obj, crd.schema, [], listErrs);
  errs.push(...listErrs);
  if (errs.some((e) => BLOCKING.has(e.type))) {
    errs.push({
      rule: "crd.rule",
      path: "",
      type: "FieldValueInvalid",
      message:
        "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
    });
    return errs;
  }
  validateRules(
    obj,
    crd.schema,
    [],
    { old, correlated: old !== undefined, ratchet: old !== undefined && deepEqual(obj, old) },
    true,
    errs,
  );
  return errs;
}

/** True when both objects hold the same value at a field path (for schema ratcheting). */
function unchangedAt(obj: Obj, old: Obj, path: string): boolean {
  const segs = path.match(/[^.[\]]+|\[\d+\]/g) ?? [];
  let a: unknown = obj;
  let b: unknown = old;
  for (const s of segs) {
    if (s.startsWith("[")) {
      // List items correlate only in map lists; positionally equal lists ratchet as a whole.
      return deepEqual(a, b);
    }
    if (!isObj(a) || !isObj(b) || !(s in b)) return false;
    a = a[s];
    b = b[s];
  }
  return a !== undefined && deepEqual(a, b);
}
