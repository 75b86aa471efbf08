// Package kube owns everything the agent does with the Kubernetes API when
// it runs in a cluster: deciding whether to use it at all, finding its
// peers (the host IPs of its sibling pods), recording Events on its own
// pod, the RBAC rules that needs, and the metrics that say whether the API
// is usable. The configuration stays environment-only; the API adds
// knowledge, never a dependency: nothing on the failover path waits for
// it, and when the API server is unreachable or refuses, the agent keeps
// its last known peers (or its static configuration).
//
// # Pieces
//
//   - Detect decides from OPENSHIFT_HA_KUBERNETES (auto, off), the
//     in-cluster credentials (KUBERNETES_SERVICE_HOST/_PORT, the
//     service-account token) and POD_NAME/POD_NAMESPACE (downward API)
//     whether the features are on. When off, its error wraps ErrOff and
//     says why in one line.
//   - Watcher finds the workload that owns the agent's pod and watches the
//     pods its selector picks (one filtered informer, in the agent's
//     namespace): Deployment (through the ReplicaSet, with the
//     Deployment's selector so old and new ReplicaSets' pods are peers
//     during a rollout), DaemonSet, ReplicaSet, ReplicationController, and
//     OpenShift's DeploymentConfig (through its ReplicationController: the
//     RC's selector without the per-RC "deployment" label, which is the
//     DeploymentConfig's selector plus deploymentconfig=<name>; the
//     DeploymentConfig itself is never read, so apps.openshift.io needs no
//     client and no RBAC). OPENSHIFT_HA_PEER_SELECTOR replaces the owner's
//     selector. Peers are the pods' host IPs, sorted and deduplicated,
//     published at most every 200 ms (Changed, Peers). Up reports whether
//     the set follows the API; a permission problem or an owner without a
//     selector turns the watcher off with one log line.
//   - Recorder records Events on the agent's pod (VIPMaster, VIPBackup,
//     VIPFault, KeepalivedRestarted, CheckFailing, VRIDConflict) through
//     client-go's broadcaster, which aggregates and rate-limits. It never
//     blocks, and bounds what it queues while the API server is away.
//   - RequiredRules is the Role the service account needs.
//   - Collector exports ipfailover_kubernetes_up and
//     ipfailover_kubernetes_peer_changes_total.
//   - RouteKlog sends client-go's logging (klog) to slog at Debug level.
//
// # Wiring it into the agent
//
//	kube.RouteKlog(logger)
//	t, err := kube.Detect(cfg.Kubernetes, os.Getenv, "")
//	if errors.Is(err, kube.ErrOff) { logger.Info(err.Error()) } // and run as before
//	w, err := kube.NewWatcher(kube.WatcherOptions{Target: *t, Selector: cfg.PeerSelector, Logger: logger})
//	go w.Run(ctx)
//	registry.MustRegister(kube.NewCollector(w))
//	rec, err := kube.NewRecorder(ctx, kube.RecorderOptions{Target: *t, NodeName: os.Getenv("NODE_NAME"), Logger: logger})
//
//	for range w.Changed() { peers := w.Peers(); ... } // unicast peers, see below
//	rec.Transition(kube.Transition{Instance: name, VRID: vrid, State: "MASTER", VIPs: vips, Reason: why})
//
// The peers replace an empty OPENSHIFT_HA_UNICAST_PEERS when unicast is
// asked for; peers listed in the environment win. They include this
// node's own host IP: rendering removes the node's own addresses as it
// does for the environment's list.
//
// # Limits
//
// Host IPs are the nodes' primary (InternalIP) addresses; when VRRP runs
// on another interface, list the peers in the environment. A pod without
// a controlling owner, or owned by a StatefulSet or a Job, needs
// OPENSHIFT_HA_PEER_SELECTOR.
package kube
