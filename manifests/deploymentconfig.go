package manifests

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// DeploymentConfig is the subset of OpenShift's apps.openshift.io/v1
// DeploymentConfig that the generator writes. It is declared here because
// github.com/openshift/api has no module version usable with this Go
// toolchain; the JSON names follow the OpenShift API exactly, so `oc apply`
// accepts the output, and tests decode it strictly into these types.
type DeploymentConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              DeploymentConfigSpec `json:"spec"`
}

// DeploymentConfigSpec is the DeploymentConfig's desired state.
type DeploymentConfigSpec struct {
	Strategy        DeploymentStrategy        `json:"strategy"`
	MinReadySeconds int32                     `json:"minReadySeconds,omitempty"`
	Triggers        []DeploymentTriggerPolicy `json:"triggers"`
	Replicas        int32                     `json:"replicas"`
	Selector        map[string]string         `json:"selector,omitempty"`
	Template        *corev1.PodTemplateSpec   `json:"template,omitempty"`
}

// DeploymentStrategy is how the DeploymentConfig rolls out new pods.
type DeploymentStrategy struct {
	Type          string                           `json:"type,omitempty"` // Rolling or Recreate
	RollingParams *RollingDeploymentStrategyParams `json:"rollingParams,omitempty"`
}

// RollingDeploymentStrategyParams bounds a rolling rollout.
type RollingDeploymentStrategyParams struct {
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	MaxSurge       *intstr.IntOrString `json:"maxSurge,omitempty"`
}

// DeploymentTriggerPolicy starts a rollout; the generator only uses
// ConfigChange, as `oc adm ipfailover` did.
type DeploymentTriggerPolicy struct {
	Type string `json:"type,omitempty"`
}
