"""A verified Plan + its scenario -> deployment files: SkyServe service YAMLs or Kubernetes manifests, and schedules."""
