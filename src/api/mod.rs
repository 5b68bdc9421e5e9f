//! Custom resource types of the `controlhub.dev/v1alpha1` API.
