package kube

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// OpenShift's DeploymentConfig controller names the DeploymentConfig of a
// ReplicationController in this annotation, and adds two labels to the
// RC's selector and its pods' labels: deployment=<rc name> (one RC only)
// and deploymentconfig=<dc name> (every RC of the DeploymentConfig).
const (
	dcAnnotation   = "openshift.io/deployment-config.name"
	dcLabel        = "deploymentconfig"
	perRCLabel     = "deployment"
	dcKind         = "DeploymentConfig"
	appsOpenShift  = "apps.openshift.io"
	dcAPIVersionV1 = appsOpenShift + "/v1"
)

// Owner is the workload whose pods are the peers, and the selector that
// picks them.
type Owner struct {
	Kind, Name string
	Selector   labels.Selector
}

func (o Owner) String() string {
	if o.Kind == "" {
		return fmt.Sprintf("selector %q", o.Selector)
	}
	return fmt.Sprintf("%s %s (selector %q)", o.Kind, o.Name, o.Selector)
}

// errNoOwner is returned for pods whose owner chain gives no peer
// selector: the features turn off (permanently, like a permission problem)
// and the message says what to do.
type errNoOwner struct{ msg string }

func (e *errNoOwner) Error() string { return e.msg }

// resolveOwner follows the controller owner references of pod up to the
// workload that manages the agent's pods:
//
//   - ReplicaSet owned by a Deployment: the Deployment's spec.selector, so
//     that old and new ReplicaSets' pods are all peers during a rollout. A
//     ReplicaSet without a Deployment: its own selector.
//   - DaemonSet: its spec.selector.
//   - ReplicationController of a DeploymentConfig (owner reference of kind
//     DeploymentConfig, or the openshift.io/deployment-config.name
//     annotation): the RC's selector without the per-RC "deployment"
//     label, so that every RC of the DeploymentConfig matches, as the
//     DeploymentConfig's own selector plus deploymentconfig=<name> would.
//     Reading the RC rather than the DeploymentConfig keeps
//     apps.openshift.io out of the client and of the RBAC rules. A bare
//     ReplicationController: its own selector.
//
// Anything else (no controller, a StatefulSet, a Job) is *errNoOwner:
// OPENSHIFT_HA_PEER_SELECTOR names the peers then.
func resolveOwner(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod) (Owner, error) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return Owner{}, &errNoOwner{fmt.Sprintf("pod %s/%s has no controlling owner; set OPENSHIFT_HA_PEER_SELECTOR to the peers' label selector", pod.Namespace, pod.Name)}
	}
	ns := pod.Namespace
	switch {
	case ref.Kind == "ReplicaSet" && groupOf(ref.APIVersion) == "apps":
		rs, err := cs.AppsV1().ReplicaSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return Owner{}, fmt.Errorf("get ReplicaSet %s/%s: %w", ns, ref.Name, err)
		}
		if dref := metav1.GetControllerOf(rs); dref != nil && dref.Kind == "Deployment" && groupOf(dref.APIVersion) == "apps" {
			d, err := cs.AppsV1().Deployments(ns).Get(ctx, dref.Name, metav1.GetOptions{})
			if err != nil {
				return Owner{}, fmt.Errorf("get Deployment %s/%s: %w", ns, dref.Name, err)
			}
			return fromLabelSelector("Deployment", d.Name, d.Spec.Selector)
		}
		return fromLabelSelector("ReplicaSet", rs.Name, rs.Spec.Selector)
	case ref.Kind == "DaemonSet" && groupOf(ref.APIVersion) == "apps":
		ds, err := cs.AppsV1().DaemonSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return Owner{}, fmt.Errorf("get DaemonSet %s/%s: %w", ns, ref.Name, err)
		}
		return fromLabelSelector("DaemonSet", ds.Name, ds.Spec.Selector)
	case ref.Kind == "ReplicationController" && groupOf(ref.APIVersion) == "":
		rc, err := cs.CoreV1().ReplicationControllers(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return Owner{}, fmt.Errorf("get ReplicationController %s/%s: %w", ns, ref.Name, err)
		}
		return fromReplicationController(rc.Name, rc.Spec.Selector, rc.Annotations, metav1.GetControllerOf(rc))
	}
	return Owner{}, &errNoOwner{fmt.Sprintf("pod %s/%s is managed by %s %s, which has no peer selector this agent knows; set OPENSHIFT_HA_PEER_SELECTOR to the peers' label selector",
		pod.Namespace, pod.Name, ref.Kind, ref.Name)}
}

func fromLabelSelector(kind, name string, ls *metav1.LabelSelector) (Owner, error) {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return Owner{}, &errNoOwner{fmt.Sprintf("%s %s: selector: %v", kind, name, err)}
	}
	if sel.Empty() {
		// Every pod of the namespace would be a peer.
		return Owner{}, &errNoOwner{fmt.Sprintf("%s %s has an empty selector; set OPENSHIFT_HA_PEER_SELECTOR", kind, name)}
	}
	return Owner{Kind: kind, Name: name, Selector: sel}, nil
}

// fromReplicationController picks the peers of an RC's pods; see
// resolveOwner.
func fromReplicationController(name string, selector, annotations map[string]string, owner *metav1.OwnerReference) (Owner, error) {
	dc := annotations[dcAnnotation]
	if owner != nil && owner.Kind == dcKind && groupOf(owner.APIVersion) == appsOpenShift {
		dc = owner.Name
	}
	if dc == "" {
		if len(selector) == 0 {
			return Owner{}, &errNoOwner{fmt.Sprintf("ReplicationController %s has an empty selector; set OPENSHIFT_HA_PEER_SELECTOR", name)}
		}
		return Owner{Kind: "ReplicationController", Name: name, Selector: labels.SelectorFromSet(selector)}, nil
	}
	set := labels.Set{}
	for k, v := range selector {
		if k != perRCLabel {
			set[k] = v
		}
	}
	if _, ok := set[dcLabel]; !ok {
		set[dcLabel] = dc
	}
	return Owner{Kind: dcKind, Name: dc, Selector: labels.SelectorFromSet(set)}, nil
}

// groupOf returns the API group of an apiVersion ("apps/v1" -> "apps",
// "v1" -> "").
func groupOf(apiVersion string) string {
	group, _, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return ""
	}
	return group
}
