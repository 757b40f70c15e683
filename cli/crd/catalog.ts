// Findings on warden objects that the API server itself would refuse, before any webhook runs:
// the CRD's OpenAPI schema, its x-kubernetes-validations (CEL) rules, strict field validation and
// object metadata. `warden check` reports them so a pipeline fails where `kubectl apply` would.
export const CRD_RULE_CATALOG = {
  "crd.unknownField":
    "Every field is declared by the CRD schema (kubectl's default strict field validation refuses unknown fields).",
  "crd.schema":
    "The object matches the CRD's OpenAPI schema: types, required fields, enums, patterns, formats, bounds, unique list keys.",
  "crd.rule": "The object satisfies the CRD's x-kubernetes-validations (CEL) rules.",
  "crd.metadata":
    "metadata is valid as the API server requires of every object (name, generateName, labels, annotations).",
} as const;

export type CrdRuleId = keyof typeof CRD_RULE_CATALOG;
