// ObjectMeta as the API server validates it for every object (k8s.io/apimachinery
// pkg/api/validation/objectmeta.go with NameIsDNSSubdomain, as custom resources use).
import type { CrdError } from "./validate.ts";

const DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;
const QUALIFIED_NAME_PART = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE = `(${QUALIFIED_NAME_PART})?`;

const whole = (re: string) => new RegExp(`^${re}$`);

/** k8s.io/apimachinery/pkg/util/validation.IsDNS1123Subdomain; messages as the API server prints. */
export function dns1123SubdomainErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 253) errs.push("must be no more than 253 characters");
  if (!whole(DNS1123_SUBDOMAIN).test(value))
    errs.push(
      `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '${DNS1123_SUBDOMAIN}')`,
    );
  return errs;
}

/** IsQualifiedName: [prefix/]name, prefix a DNS subdomain, name ≤ 63 of [A-Za-z0-9-_.]. */
export function qualifiedNameErrors(value: string): string[] {
  const parts = value.split("/");
  let name: string;
  const errs: string[] = [];
  if (parts.length === 1) name = parts[0]!;
  else if (parts.length === 2) {
    const [prefix, n] = parts as [string, string];
    name = n;
    if (prefix.length === 0) errs.push("prefix part must be non-empty");
    else errs.push(...dns1123SubdomainErrors(prefix).map((e) => `prefix part ${e}`));
  } else {
    return [
      `a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '${QUALIFIED_NAME_PART}') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  if (name.length === 0) errs.push("name part must be non-empty");
  else if (name.length > 63) errs.push("name part must be no more than 63 characters");
  if (name.length > 0 && !whole(QUALIFIED_NAME_PART).test(name))
    errs.push(
      `name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '${QUALIFIED_NAME_PART}')`,
    );
  return errs;
}

export function labelValueErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push("must be no more than 63 characters");
  if (!whole(LABEL_VALUE).test(value))
    errs.push(
      `a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '${LABEL_VALUE}')`,
    );
  return errs;
}

const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

function stringMap(v: unknown): Record<string, unknown> | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

export function validateObjectMeta(meta: unknown, namespaced: boolean): CrdError[] {
  const out: CrdError[] = [];
  const invalid = (path: string, value: unknown, msg: string) =>
    out.push({
      rule: "crd.metadata",
      path,
      type: "FieldValueInvalid",
      message: `Invalid value: ${JSON.stringify(value)}: ${msg}`,
    });
  const m = stringMap(meta);
  if (!m) {
    out.push({
      rule: "crd.metadata",
      path: "metadata.name",
      type: "FieldValueRequired",
      message: "Required value: name or generateName is required",
    });
    return out;
  }
  const name = typeof m.name === "string" ? m.name : "";
  const generateName = typeof m.generateName === "string" ? m.generateName : "";
  for (const [k, v] of Object.entries(m)) {
    if (
      ["name", "generateName", "namespace", "resourceVersion", "uid", "selfLink"].includes(k) &&
      typeof v !== "string"
    )
      invalid(`metadata.${k}`, v, "must be a string");
  }
  if (generateName) {
    // Generated names are the prefix plus random characters: the prefix may end in '-'.
    for (const e of dns1123SubdomainErrors(
      generateName.replace(/-+$/, "") + (generateName.endsWith("-") ? "a" : ""),
    ))
      invalid("metadata.generateName", generateName, e);
  }
  if (!name && !generateName)
    out.push({
      rule: "crd.metadata",
      path: "metadata.name",
      type: "FieldValueRequired",
      message: "Required value: name or generateName is required",
    });
  else if (name) for (const e of dns1123SubdomainErrors(name)) invalid("metadata.name", name, e);
  if (namespaced && typeof m.namespace === "string" && m.namespace !== "") {
    const ns = m.namespace;
    if (ns.length > 63 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns))
      invalid(
        "metadata.namespace",
        ns,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
      );
  }
  const labels = stringMap(m.labels);
  for (const [k, v] of Object.entries(labels ?? {})) {
    for (const e of qualifiedNameErrors(k)) invalid("metadata.labels", k, e);
    if (typeof v !== "string") invalid(`metadata.labels.${k}`, v, "must be a string");
    else for (const e of labelValueErrors(v)) invalid("metadata.labels", v, e);
  }
  const annotations = stringMap(m.annotations);
  let size = 0;
  for (const [k, v] of Object.entries(annotations ?? {})) {
    for (const e of qualifiedNameErrors(k.toLowerCase())) invalid("metadata.annotations", k, e);
    size += k.length + (typeof v === "string" ? Buffer.byteLength(v) : 0);
  }
  if (size > TOTAL_ANNOTATION_SIZE_LIMIT)
    out.push({
      rule: "crd.metadata",
      path: "metadata.annotations",
      type: "FieldValueTooLong",
      message: `Too long: may not be more than ${TOTAL_ANNOTATION_SIZE_LIMIT} bytes`,
    });
  return out;
}
