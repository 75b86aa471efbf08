package kube

import rbacv1 "k8s.io/api/rbac/v1"

// RequiredRules are exactly the permissions the package uses, for a Role
// in the agent's namespace (deploy/ and the manifests generator render
// them). Without them the features turn off with one log line and the
// agent runs on its static configuration.
//
//   - pods get: the agent's own pod (owner, UID for events); list/watch:
//     the peer informer.
//   - replicasets, deployments, daemonsets, replicationcontrollers get:
//     the owner chain up to the workload whose selector picks the peers.
//     DeploymentConfigs are not read: the ReplicationController names its
//     DeploymentConfig (see the package doc).
//   - events create/patch: Events on the agent's pod (patch: client-go
//     counts repeats of an event on the existing object).
func RequiredRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets", "deployments", "daemonsets"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"replicationcontrollers"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
}
