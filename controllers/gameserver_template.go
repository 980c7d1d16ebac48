package controllers

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	agonesv1 "github.com/gamehall/gamehall/api/agones/v1"
	gamehallv1 "github.com/gamehall/gamehall/api/v1alpha1"
)

var errTemplate = errors.New("invalid game-server pod template")

// verificationKeysVolume is the pod volume GameServerFor adds for the Hall's
// verification-key Secret; a template volume of the same name is replaced.
const verificationKeysVolume = "gamehall-verification-keys"

// ShardTemplate is what a shard's GameServer is made of besides the shard
// itself: the Region's pod template, the settings inherited from its Hall,
// and the operator's default image.
type ShardTemplate struct {
	// Pod is the Region's template; nil or without containers: one
	// container running DefaultImage.
	Pod          *corev1.PodTemplateSpec
	Settings     HallSettings
	DefaultImage string
	// Database is the Region's database (nil: games are not rated).
	Database *gamehallv1.DatabaseSpec
}

// TemplateFor is the template of region's shards, given its Hall's settings.
func TemplateFor(region *gamehallv1.Region, settings HallSettings, defaultImage string) ShardTemplate {
	return ShardTemplate{Pod: region.Spec.Template, Settings: settings, DefaultImage: defaultImage, Database: region.Spec.Database}
}

// DatabaseURLEnv is the variable that carries a database URL from its
// Secret into the game server (and the hall's accounts database).
const DatabaseURLEnv = "GAMEHALL_DATABASE_URL"

// databaseEnv reads a DatabaseSpec's URL from its Secret. Optional: a
// missing Secret must not keep players out; the process runs without the
// database and says so in its log (games unrated, login without accounts).
func databaseEnv(name string, d *gamehallv1.DatabaseSpec) corev1.EnvVar {
	optional := true
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: d.SecretName}, Key: d.KeyOrDefault(), Optional: &optional}}}
}

// GameServerFor builds the n-th GameServer of a shard from t: the players'
// TCP port, the counters, the labels the hall and the operator select by,
// the Hall's verification-key Secret (public keys only) mounted read-only,
// and the environment the
// game server reads (GAMEHALL_*, see cmd/gamehall/gameserver.go).
func GameServerFor(shard *gamehallv1.RoomShard, t ShardTemplate, n int32) (*agonesv1.GameServer, error) {
	tmpl, ci, err := t.pod(shard.Spec.Region)
	if err != nil {
		return nil, err
	}
	c := &tmpl.Spec.Containers[ci]
	// The shard verifies tickets with the public halves of the keys its
	// Hall signs with; it holds no key that can sign.
	setVolume(&tmpl.Spec, corev1.Volume{Name: verificationKeysVolume,
		VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: t.Settings.VerificationKeySecret}}})
	setMount(c, corev1.VolumeMount{Name: verificationKeysVolume, MountPath: VerificationKeysDir, ReadOnly: true})
	env := map[string]string{
		"GAMEHALL_VERIFICATION_KEYS": VerificationKeysDir,
		"GAMEHALL_SHARD":             shard.Name, // the shard's identity in presence
		"GAMEHALL_REGION":            shard.Spec.Region,
		"GAMEHALL_GAME":              shard.Spec.Game,
		"GAMEHALL_FIRST_ROOM":        strconv.Itoa(int(shard.Spec.FirstRoom)),
		"GAMEHALL_ROOMS":             strconv.Itoa(int(shard.Spec.Rooms)),
		"GAMEHALL_ROOM_CAPACITY":     strconv.Itoa(int(shard.Spec.RoomCapacity)),
		"GAMEHALL_TABLES_PER_ROOM":   strconv.Itoa(int(shard.Spec.TablesPerRoom)),
		"GAMEHALL_PORT":              strconv.Itoa(PlayersPort),
		"GAMEHALL_INTERNAL_PORT":     strconv.Itoa(InternalPort),
	}
	// Shared with the halls: one session, one room per game. When the Hall
	// names no Redis, a template's own GAMEHALL_REDIS stands.
	if a := t.Settings.RedisAddress; a != "" {
		env["GAMEHALL_REDIS"] = a
	}
	setEnv(c, env)
	if t.Database != nil {
		// The shard settles its games there.
		setEnvVar(c, databaseEnv(DatabaseURLEnv, t.Database))
	}
	setPort(c, corev1.ContainerPort{Name: InternalPortName, ContainerPort: InternalPort, Protocol: corev1.ProtocolTCP})

	labels := map[string]string{
		gamehallv1.LabelRegion:       shard.Spec.Region,
		gamehallv1.LabelShardIndex:   strconv.Itoa(int(shard.Spec.Index)),
		gamehallv1.LabelRoomShard:    shard.Name,
		gamehallv1.LabelTemplateHash: t.Hash(),
	}
	if shard.Spec.Draining {
		labels[gamehallv1.LabelDraining] = "true"
	}
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	for k, v := range labels {
		if k != gamehallv1.LabelDraining {
			tmpl.Labels[k] = v
		}
	}
	name := c.Name
	capacity := shard.Capacity()
	return &agonesv1.GameServer{
		ObjectMeta: metav1.ObjectMeta{
			Name:        fmt.Sprintf("%s-gs%d", shard.Name, n),
			Namespace:   shard.Namespace,
			Labels:      labels,
			Annotations: map[string]string{annotationReplacement: strconv.Itoa(int(n))},
		},
		Spec: agonesv1.GameServerSpec{
			Container: name,
			Ports: []agonesv1.GameServerPort{{
				Name: PlayersPortName, PortPolicy: agonesv1.Dynamic, Container: &name,
				ContainerPort: PlayersPort, Protocol: corev1.ProtocolTCP,
			}},
			Counters: map[string]agonesv1.CounterStatus{
				CounterPlayers: {Count: 0, Capacity: capacity},
			},
			Template: *tmpl,
		},
	}, nil
}

// pod is the Region's pod template with the operator's defaults applied:
// a container when it has none, the default image where none is named. ci
// is the game-server container's index.
func (t ShardTemplate) pod(region string) (_ *corev1.PodTemplateSpec, ci int, _ error) {
	tmpl := &corev1.PodTemplateSpec{}
	if t.Pod != nil {
		tmpl = t.Pod.DeepCopy()
	}
	if len(tmpl.Spec.Containers) == 0 {
		if t.DefaultImage == "" {
			return nil, 0, fmt.Errorf("%w: Region %q has no containers and the operator no --gameserver-image", errTemplate, region)
		}
		tmpl.Spec.Containers = []corev1.Container{{Name: GameServerContainer, Image: t.DefaultImage, Args: []string{"gameserver"}}}
	}
	for i, c := range tmpl.Spec.Containers {
		if c.Name == GameServerContainer {
			ci = i
		}
	}
	c := &tmpl.Spec.Containers[ci]
	if c.Image == "" {
		c.Image = t.DefaultImage
	}
	if c.Image == "" {
		return nil, 0, fmt.Errorf("%w: container %q has no image", errTemplate, c.Name)
	}
	return tmpl, ci, nil
}

// Hash identifies what a shard's GameServer is made of besides the shard
// itself (the pod template after the operator's defaults, so a new
// --gameserver-image counts; the Hall's presence store and keys; the
// Region's database), as pod-template-hash does for ReplicaSets. Shards
// whose GameServer carries another hash are out of date: an upgrade
// replaces them. Which Hall gives the settings does not count, only what
// it gives.
func (t ShardTemplate) Hash() string {
	pod, _, err := t.pod("")
	if err != nil {
		pod = t.Pod // invalid: no GameServer is made from it anyway
	}
	b, err := json.Marshal(struct {
		Pod                   *corev1.PodTemplateSpec  `json:"pod"`
		RedisAddress          string                   `json:"redisAddress"`
		VerificationKeySecret string                   `json:"verificationKeySecret"`
		Database              *gamehallv1.DatabaseSpec `json:"database"`
	}{pod, t.Settings.RedisAddress, t.Settings.VerificationKeySecret, t.Database})
	if err != nil {
		panic(fmt.Sprintf("hashing a shard template: %v", err)) // plain data: cannot fail
	}
	h := fnv.New32a()
	h.Write(b)
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

func setEnv(c *corev1.Container, env map[string]string) {
	for i := 0; i < len(c.Env); {
		if _, ours := env[c.Env[i].Name]; ours {
			c.Env = append(c.Env[:i], c.Env[i+1:]...)
			continue
		}
		i++
	}
	for _, k := range sortedKeys(env) {
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: env[k]})
	}
}

// setEnvVar sets one variable, replacing a template's own of that name.
func setEnvVar(c *corev1.Container, v corev1.EnvVar) {
	for i := range c.Env {
		if c.Env[i].Name == v.Name {
			c.Env[i] = v
			return
		}
	}
	c.Env = append(c.Env, v)
}

// setVolume adds v to the pod, replacing a volume of the same name.
func setVolume(spec *corev1.PodSpec, v corev1.Volume) {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == v.Name {
			spec.Volumes[i] = v
			return
		}
	}
	spec.Volumes = append(spec.Volumes, v)
}

// setMount adds m to the container, dropping any mount of the same volume
// or at the same path (two mounts at one path make the pod invalid).
func setMount(c *corev1.Container, m corev1.VolumeMount) {
	mounts := c.VolumeMounts[:0]
	for _, x := range c.VolumeMounts {
		if x.Name != m.Name && x.MountPath != m.MountPath {
			mounts = append(mounts, x)
		}
	}
	c.VolumeMounts = append(mounts, m)
}

func setPort(c *corev1.Container, p corev1.ContainerPort) {
	for _, q := range c.Ports {
		if q.ContainerPort == p.ContainerPort {
			return
		}
	}
	c.Ports = append(c.Ports, p)
}
