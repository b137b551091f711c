// The YAML decoder of Kubernetes, Argo CD and Helm (sigs.k8s.io/yaml over
// go.yaml.in/yaml/v2), at the versions kube-apiserver KUBERNETES_VERSION uses.
// Keep SIGS_YAML_VERSION in src/homeport/versions.py and the require below in step.
module homeport.local/tools/goyaml

go 1.26.0

require sigs.k8s.io/yaml v1.6.0

require go.yaml.in/yaml/v2 v2.4.3 // indirect
