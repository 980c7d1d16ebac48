package v1alpha1

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HallSpec is a lobby service: login plus the live directory of some Regions.
type HallSpec struct {
	// regionSelector picks the Regions (same namespace) the hall lists. Empty: all of them.
	// +optional
	RegionSelector *metav1.LabelSelector `json:"regionSelector,omitempty"`

	// replicas is the number of hall server pods.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Replicas int32 `json:"replicas,omitempty"`

	// maxClientsPerReplica is how many clients one replica serves before it
	// redirects new ones to a less loaded replica.
	// +kubebuilder:default=10000
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	MaxClientsPerReplica int32 `json:"maxClientsPerReplica,omitempty"`

	// image is the gamehall image the hall pods run. Defaults to the operator's own.
	// +optional
	Image string `json:"image,omitempty"`

	// login configures tickets and accounts.
	Login LoginSpec `json:"login"`

	// presence configures the global presence store.
	// +optional
	Presence PresenceSpec `json:"presence,omitempty"`

	// service configures the Service in front of the hall pods.
	// +kubebuilder:default={}
	// +optional
	Service HallServiceSpec `json:"service,omitempty"`

	// resources are the hall container's compute resources.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// LoginSpec configures session tickets and where accounts come from.
//
// +kubebuilder:validation:XValidation:rule="self.guest || has(self.accountsSecretName) || has(self.accountsDatabase)",message="set accountsDatabase or accountsSecretName, or guest: true for development: otherwise nobody can log in"
// +kubebuilder:validation:XValidation:rule="self.signingKeySecretName != self.verificationKeySecretName",message="signingKeySecretName and verificationKeySecretName must differ: the verification Secret is mounted into every shard and must not hold private keys"
type LoginSpec struct {
	// signingKeySecretName is the Secret (same namespace) with the ticket
	// signing keys: <key id>.pem Ed25519 private keys (PKCS#8 PEM) and the
	// key "active" naming the one that signs. Mounted into hall pods only;
	// `gamehall keys new` writes it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SigningKeySecretName string `json:"signingKeySecretName"`

	// verificationKeySecretName is the Secret (same namespace) with the
	// ticket verification keys: <key id>.pem Ed25519 public keys (PKIX PEM).
	// Mounted into hall pods and into every shard of the Regions this Hall
	// lists; halls and shards re-read it, so a key is published here before
	// it is made active, and a key removed here is refused everywhere within
	// the kubelet's Secret sync plus 30 s.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	VerificationKeySecretName string `json:"verificationKeySecretName"`

	// accountsDatabase names the login's database, which keeps the
	// accounts: players sign up into it (POST /v1/accounts) and log in
	// against it; `gamehall account add/disable` manage it.
	// +optional
	AccountsDatabase *DatabaseSpec `json:"accountsDatabase,omitempty"`

	// accountsSecretName is a Secret with an "accounts" key: lines of
	// "name:bcrypt-hash" (see `gamehall account add`). With accountsDatabase
	// it is imported into the database (read-only, for small setups).
	// +kubebuilder:validation:MaxLength=253
	// +optional
	AccountsSecretName string `json:"accountsSecretName,omitempty"`

	// guest lets anyone log in with any name and no password. For development only.
	// +optional
	Guest bool `json:"guest,omitempty"`

	// trustedProxies are the addresses and CIDR prefixes of the proxies in
	// front of the halls (an ingress, a load balancer that forwards
	// X-Forwarded-For) whose X-Forwarded-For names the client for the login
	// limits. From any other peer the header is ignored. Empty: the TCP peer
	// is the client (behind a proxy that is not listed, every client shares
	// the proxy's limits).
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.all(p, isIP(p) || isCIDR(p))",message="trustedProxies are IP addresses or CIDR prefixes, e.g. 10.0.0.0/8"
	// +listType=atomic
	// +optional
	TrustedProxies []string `json:"trustedProxies,omitempty"`

	// ticketTTL is how long a session ticket stays valid.
	// +kubebuilder:default="12h"
	// +optional
	TicketTTL *metav1.Duration `json:"ticketTTL,omitempty"`
}

// PresenceSpec configures the presence store.
type PresenceSpec struct {
	// redisAddress is host:port of the Redis that holds presence. Empty: each
	// replica keeps presence in memory (one replica only; for development).
	// +kubebuilder:validation:MaxLength=253
	// +optional
	RedisAddress string `json:"redisAddress,omitempty"`
}

// HallServiceSpec configures the hall's Service.
type HallServiceSpec struct {
	// type is the Service type.
	// +kubebuilder:default=ClusterIP
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	Type corev1.ServiceType `json:"type,omitempty"`

	// port is the Service port clients connect to.
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// externalURL is the base URL clients outside the cluster reach the
	// halls at (e.g. https://lobby.example.com, an Ingress or a load
	// balancer you run), named in login answers and hall redirects. Unset:
	// the LoadBalancer Service's address, or for ClusterIP the Service's
	// cluster DNS name (clients inside the cluster only). Never a pod IP.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHost() != '' && url(self).getQuery().size() == 0",message="externalURL must be an http:// or https:// URL with a host and no query, e.g. https://lobby.example.com"
	// +optional
	ExternalURL string `json:"externalURL,omitempty"`
}

// HallStatus is what the operator observed of the hall's children and Regions.
type HallStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// replicas is the number of hall pods.
	Replicas int32 `json:"replicas"`
	// readyReplicas is the number of hall pods ready to serve.
	ReadyReplicas int32 `json:"readyReplicas"`
	// regions is the number of Regions the hall lists.
	Regions int32 `json:"regions"`
	// shards is the number of ready, non-draining shards of those Regions.
	Shards int32 `json:"shards"`
	// players is the number of players in those Regions.
	Players int64 `json:"players"`
	// endpoint is the base URL clients are sent to (login answers, hall
	// redirects): spec.service.externalURL, the load balancer's address, or
	// the Service's cluster DNS name; empty while none is known (condition
	// AddressResolved says why).
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// conditions: Ready (the Deployment is available) and AddressResolved.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Hall is a lobby service: login and a live directory of rooms, as a Deployment.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=hall,categories=gamehall
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Regions",type=integer,JSONPath=`.status.regions`
// +kubebuilder:printcolumn:name="Players",type=integer,JSONPath=`.status.players`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Hall struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired hall.
	Spec HallSpec `json:"spec,omitempty"`
	// status is the observed hall.
	Status HallStatus `json:"status,omitempty"`
}

// HallList is a list of Halls.
//
// +kubebuilder:object:root=true
type HallList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Hall `json:"items"`
}

// DefaultTicketTTL is ticketTTL's default.
const DefaultTicketTTL = 12 * time.Hour

// TicketTTLDuration is ticketTTL, or its default when unset.
func (l LoginSpec) TicketTTLDuration() time.Duration {
	if l.TicketTTL == nil {
		return DefaultTicketTTL
	}
	return l.TicketTTL.Duration
}

func init() {
	SchemeBuilder.Register(&Hall{}, &HallList{})
}
