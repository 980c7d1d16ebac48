package fakenode

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// volumeFiles computes the files of each of the pod's volumes, as the
// kubelet would project them (path in the volume → content). emptyDir
// volumes have none (they are made once). A missing non-optional Secret or
// ConfigMap is an error: the pod does not start, as with a kubelet.
func (k *Kubelet) volumeFiles(ctx context.Context, pod *corev1.Pod, podIP string) (map[string]map[string][]byte, error) {
	out := map[string]map[string][]byte{}
	for _, v := range pod.Spec.Volumes {
		files := map[string][]byte{}
		var err error
		switch {
		case v.Secret != nil:
			err = k.secretFiles(ctx, pod.Namespace, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, files)
		case v.ConfigMap != nil:
			err = k.configMapFiles(ctx, pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, files)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				switch {
				case src.Secret != nil:
					err = k.secretFiles(ctx, pod.Namespace, src.Secret.Name, src.Secret.Items, src.Secret.Optional, files)
				case src.ConfigMap != nil:
					err = k.configMapFiles(ctx, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, files)
				case src.ServiceAccountToken != nil:
					err = k.tokenFile(ctx, pod, src.ServiceAccountToken, files)
				case src.DownwardAPI != nil:
					err = downwardFiles(pod, podIP, src.DownwardAPI.Items, files)
				default:
					err = fmt.Errorf("projected source %+v is not supported by this node stand-in", src)
				}
				if err != nil {
					break
				}
			}
		case v.DownwardAPI != nil:
			err = downwardFiles(pod, podIP, v.DownwardAPI.Items, files)
		case v.EmptyDir != nil:
			files = nil
		default:
			err = fmt.Errorf("volume %q: only secret, configMap, projected, downwardAPI and emptyDir volumes run on this node stand-in", v.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		out[v.Name] = files
	}
	return out, nil
}

func (k *Kubelet) secretFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool, files map[string][]byte) error {
	var s corev1.Secret
	if err := k.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) && optional != nil && *optional {
			return nil
		}
		return fmt.Errorf("Secret %s/%s: %w", ns, name, err)
	}
	return project(s.Data, items, files, "Secret "+name)
}

func (k *Kubelet) configMapFiles(ctx context.Context, ns, name string, items []corev1.KeyToPath, optional *bool, files map[string][]byte) error {
	var cm corev1.ConfigMap
	if err := k.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &cm); err != nil {
		if apierrors.IsNotFound(err) && optional != nil && *optional {
			return nil
		}
		return fmt.Errorf("ConfigMap %s/%s: %w", ns, name, err)
	}
	data := map[string][]byte{}
	for key, v := range cm.Data {
		data[key] = []byte(v)
	}
	maps.Copy(data, cm.BinaryData)
	return project(data, items, files, "ConfigMap "+name)
}

func project(data map[string][]byte, items []corev1.KeyToPath, files map[string][]byte, what string) error {
	if len(items) == 0 {
		maps.Copy(files, data)
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("%s has no key %q", what, it.Key)
		}
		files[it.Path] = v
	}
	return nil
}

// tokenFile asks the API server for the pod's ServiceAccount token (the
// TokenRequest API, bound to the pod), as the kubelet does.
func (k *Kubelet) tokenFile(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection, files map[string][]byte) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Spec.ServiceAccountName}}
	if sa.Name == "" {
		sa.Name = "default"
	}
	exp := int64(3600)
	if src.ExpirationSeconds != nil {
		exp = *src.ExpirationSeconds
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &exp,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if src.Audience != "" {
		tr.Spec.Audiences = []string{src.Audience}
	}
	key := string(pod.UID) + "/" + src.Path
	if v, fresh := k.cachedToken(key, time.Duration(exp)*time.Second); fresh {
		files[src.Path] = v
		return nil
	}
	if err := k.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		return fmt.Errorf("token of ServiceAccount %s/%s: %w", sa.Namespace, sa.Name, err)
	}
	files[src.Path] = []byte(tr.Status.Token)
	k.cacheToken(key, files[src.Path])
	return nil
}

func downwardFiles(pod *corev1.Pod, podIP string, items []corev1.DownwardAPIVolumeFile, files map[string][]byte) error {
	for _, it := range items {
		if it.FieldRef == nil {
			return fmt.Errorf("downwardAPI item %q: only fieldRef is supported here", it.Path)
		}
		v, err := fieldValue(pod, podIP, it.FieldRef.FieldPath)
		if err != nil {
			return err
		}
		files[it.Path] = []byte(v)
	}
	return nil
}

// fieldValue resolves a downward-API field path.
func fieldValue(pod *corev1.Pod, podIP, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		return podIP, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	}
	for _, p := range []struct {
		prefix string
		m      map[string]string
	}{{"metadata.labels['", pod.Labels}, {"metadata.annotations['", pod.Annotations}} {
		if strings.HasPrefix(path, p.prefix) && strings.HasSuffix(path, "']") {
			return p.m[strings.TrimSuffix(strings.TrimPrefix(path, p.prefix), "']")], nil
		}
	}
	return "", fmt.Errorf("fieldRef %q is not supported by this node stand-in", path)
}

// writeVolume makes dir hold files the way the kubelet's atomic writer
// does: the files live in a timestamped directory, "..data" points at it,
// and each top-level name is a link through "..data". An update swaps
// "..data" in one rename, so a reader sees the old set or the new, never
// half. It reports whether anything changed.
func writeVolume(dir string, files map[string][]byte, previous map[string][]byte) (bool, error) {
	if previous != nil && equalFiles(files, previous) {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	stamp := "..data-" + time.Now().Format("20060102T150405.000000000")
	data := filepath.Join(dir, stamp)
	for name, b := range files {
		p := filepath.Join(data, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return false, err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return false, err
		}
	}
	if err := os.MkdirAll(data, 0o755); err != nil {
		return false, err
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	os.Remove(tmp)
	if err := os.Symlink(stamp, tmp); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		return false, err
	}
	top := map[string]bool{}
	for name := range files {
		top[strings.SplitN(name, "/", 2)[0]] = true
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			return false, err
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "..") && !top[e.Name()] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	if old != "" && old != stamp {
		os.RemoveAll(filepath.Join(dir, old))
	}
	return true, nil
}

func equalFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for _, k := range slices.Collect(maps.Keys(a)) {
		if !bytes.Equal(a[k], b[k]) {
			return false
		}
	}
	return true
}
