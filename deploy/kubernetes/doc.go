// Package kubernetes holds no code: this directory is codeexec's Kubernetes
// manifests (a namespace, a DaemonSet and a Service, applied with
// `kubectl apply -k deploy/kubernetes`), and manifests_test.go, which
// parses them and checks the settings the service depends on.
// docs/deploy.md explains the deployment.
package kubernetes
