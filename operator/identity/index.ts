// startIdentityServices: the identity half of the operator (see contract.ts).
//   every replica: CA bootstrap + periodic re-read (all replicas sign), the HTTPS issuer
//   leader only:   CA rotation, trust-bundle ConfigMaps, Secret delivery
import * as k8s from "@kubernetes/client-node";
import { ISSUER_TOKEN_AUDIENCE } from "../../api/v1alpha1/sidecar.ts";
import { validateTrustDomain } from "../../lib/identity/spiffe-id.ts";
import { KeyedTokenBuckets } from "../../lib/token-bucket.ts";
import { eventRecorder } from "../runtime/events.ts";
import { TokenReviewAuthenticator } from "./authn.ts";
import { Authority } from "./authority.ts";
import { WorkloadAuthorizer } from "./authz.ts";
import { BundlePublisher } from "./bundle-publisher.ts";
import { CAManager, defaultCAConfig } from "./ca-manager.ts";
import type { IdentityServices, IdentityServicesDeps, StartIdentityServices } from "./contract.ts";
import { parseDuration } from "./duration.ts";
import { startIssuerServer } from "./issuer-server.ts";
import { identityMetrics } from "./metrics.ts";
import { SecretDelivery } from "./secret-delivery.ts";
import { IssuanceStatusRecorder } from "./status-recorder.ts";

export type {
  IdentityServices,
  IdentityServicesDeps,
  LeaderState,
  StartIdentityServices,
} from "./contract.ts";

export const startIdentityServices: StartIdentityServices = async (
  deps: IdentityServicesDeps,
): Promise<IdentityServices> => {
  validateTrustDomain(deps.trustDomain);
  // Fail at start, not at the first issuance, on a cap that is not a duration.
  if (deps.svid?.maxTTL !== undefined) parseDuration(deps.svid.maxTTL, "svid.maxTTL");
  const log = deps.log.child({ component: "identity" });
  const core = deps.kc.makeApiClient(k8s.CoreV1Api);
  const custom = deps.kc.makeApiClient(k8s.CustomObjectsApi);
  const metrics = identityMetrics(deps.registry);
  const event = eventRecorder(core, log);
  const ms = (d: string | undefined, field: string) =>
    d === undefined ? undefined : parseDuration(d, field);
  const caConfig = defaultCAConfig(deps.trustDomain, {
    ...(deps.ca?.secretName ? { secretName: deps.ca.secretName } : {}),
    ...(deps.ca?.bringYourOwn !== undefined ? { bringYourOwn: deps.ca.bringYourOwn } : {}),
    ...(deps.ca?.ttl ? { ttlMs: ms(deps.ca.ttl, "ca.ttl")! } : {}),
    ...(deps.ca?.rotateAtFraction ? { rotateAtFraction: deps.ca.rotateAtFraction } : {}),
    ...(deps.ca?.propagation ? { propagationMs: ms(deps.ca.propagation, "ca.propagation")! } : {}),
    ...(deps.ca?.syncInterval ? { syncIntervalMs: ms(deps.ca.syncInterval, "ca.syncInterval")! } : {}),
    ...(deps.installationOwner ? { owner: deps.installationOwner } : {}),
  });
  if (!(caConfig.rotateAtFraction > 0 && caConfig.rotateAtFraction < 1))
    throw new Error("ca.rotateAtFraction must be between 0 and 1");
  if (!caConfig.bringYourOwn && caConfig.propagationMs >= caConfig.ttlMs * (1 - caConfig.rotateAtFraction)) {
    throw new Error(
      "ca.propagation must be shorter than the part of the CA's life left after rotateAtFraction",
    );
  }

  const authority = new Authority({ refreshHintS: Math.max(1, Math.round(caConfig.syncIntervalMs / 1000)) });
  const caManager = new CAManager({
    core,
    log,
    metrics,
    authority,
    namespace: deps.operatorNamespace,
    config: caConfig,
    event,
  });
  await caManager.bootstrap();
  caManager.startSync();

  const statusRecorder = new IssuanceStatusRecorder({
    custom,
    log,
    metrics,
    minIntervalMs: ms(deps.issuer.statusInterval, "issuer.statusInterval"),
  });
  const authenticator = new TokenReviewAuthenticator({
    api: deps.kc.makeApiClient(k8s.AuthenticationV1Api),
    audience: ISSUER_TOKEN_AUDIENCE,
    cacheMetric: metrics.authnCache,
  });
  const authorizer = new WorkloadAuthorizer({
    core,
    custom,
    trustDomain: deps.trustDomain,
    ttlOverride: deps.issuer.ttlOverride,
    maxTTL: deps.svid?.maxTTL,
    admission: deps.admission,
  });
  const server = await startIssuerServer(
    {
      authority,
      authenticate: (t, source) => authenticator.authenticate(t, source),
      authorize: (t) => authorizer.authorize(t),
      rateLimit: new KeyedTokenBuckets({
        ratePerSecond: deps.issuer.rateLimit?.perSecond ?? 1,
        burst: deps.issuer.rateLimit?.burst ?? 10,
      }),
      metrics,
      log,
      servingDNSNames: deps.issuer.servingDNSNames,
      onIssued: (grant, issued) => {
        if (grant.kind === "agent") statusRecorder.record(grant.namespace, grant.name, issued);
      },
    },
    { host: deps.issuer.host, port: deps.issuer.port },
  );

  const publisher = new BundlePublisher({
    core,
    authority,
    log,
    resyncMs: ms(deps.bundleResync, "bundleResync"),
    trustDomain: deps.trustDomain,
    namespaces: deps.namespaces,
  });
  const delivery = new SecretDelivery({
    kc: deps.kc,
    authority,
    log,
    metrics,
    event,
    trustDomain: deps.trustDomain,
    ttlOverride: deps.issuer.ttlOverride,
    maxTTL: deps.svid?.maxTTL,
    renewAt: deps.svid?.renewAt,
    statusRecorder,
    namespaces: deps.namespaces,
  });
  let leading = false;
  let stopped = false;
  const setLeader = (leader: boolean) => {
    if (stopped && leader) return;
    if (leader === leading) return;
    leading = leader;
    log.info(
      leader ? "leading: CA rotation, bundle publishing and Secret delivery start" : "no longer leading",
    );
    caManager.setLeader(leader);
    if (leader) {
      publisher.start();
      void delivery.start().catch((err: unknown) => log.error("Secret delivery failed to start", { err }));
    } else {
      publisher.stop();
      void delivery.stop();
    }
  };
  deps.leader.onChange(setLeader);
  setLeader(deps.leader.isLeader());

  return {
    issuerURL: server.url,
    bundlePem: () => authority.bundlePem(),
    caNotAfter: () => (authority.ready ? authority.state().active.notAfter : undefined),
    publishBundleNow: () => void publisher.publishNow(),
    stop: async () => {
      setLeader(false);
      stopped = true;
      caManager.stop();
      statusRecorder.stop();
      await delivery.stop();
      await server.close();
    },
  };
};
