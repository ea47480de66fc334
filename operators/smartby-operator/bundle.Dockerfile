# The OLM bundle image (for OperatorHub and catalogs): the manifests and metadata of bundle/.
#   buildah bud -f bundle.Dockerfile -t ghcr.io/smartby/smartby-operator-bundle:0.1.0 .
FROM scratch

LABEL operators.operatorframework.io.bundle.mediatype.v1=registry+v1
LABEL operators.operatorframework.io.bundle.manifests.v1=manifests/
LABEL operators.operatorframework.io.bundle.metadata.v1=metadata/
LABEL operators.operatorframework.io.bundle.package.v1=smartby-operator
LABEL operators.operatorframework.io.bundle.channels.v1=alpha
LABEL operators.operatorframework.io.bundle.channel.default.v1=alpha
LABEL operators.operatorframework.io.metrics.builder=operator-sdk-v1.33.0
LABEL operators.operatorframework.io.metrics.mediatype.v1=metrics+v1
LABEL operators.operatorframework.io.metrics.project_layout=helm.sdk.operatorframework.io/v1
LABEL com.redhat.openshift.versions=v4.12

COPY bundle/manifests /manifests/
COPY bundle/metadata /metadata/
