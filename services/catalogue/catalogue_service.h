// gRPC handlers of smartcity.catalogue.v1.CatalogueService: each translates a request into one
// call of the domain (catalogue.h) and runs it through the runtime's CallRunner, which applies
// the per-method policy and guards and maps the status. Nothing else lives here.
#ifndef SMARTBY_SERVICES_CATALOGUE_CATALOGUE_SERVICE_H_
#define SMARTBY_SERVICES_CATALOGUE_CATALOGUE_SERVICE_H_

#include "services/catalogue/catalogue.h"
#include "services/runtime/call.h"
#include "smartcity/catalogue/v1/catalogue.grpc.pb.h"

namespace smartby::catalogue {

// Per RPC: whether it changes state (audited), and who may call it (Access and Action).
const ServicePolicy& CatalogueServicePolicy();

class CatalogueService final : public v1::CatalogueService::CallbackService {
 public:
  // `catalogue` must outlive the service; `calls` comes from ServerRuntime::NewCallRunner with
  // CatalogueServicePolicy().
  CatalogueService(Catalogue* catalogue, CallRunner calls);

  CallRunner& calls() { return calls_; }

  using Ctx = grpc::CallbackServerContext;
  using Reactor = grpc::ServerUnaryReactor;
  Reactor* CreateDataset(Ctx*, const v1::CreateDatasetRequest*, v1::Dataset*) override;
  Reactor* GetDataset(Ctx*, const v1::GetDatasetRequest*, v1::Dataset*) override;
  Reactor* UpdateDataset(Ctx*, const v1::UpdateDatasetRequest*, v1::Dataset*) override;
  Reactor* ListDatasets(Ctx*, const v1::ListDatasetsRequest*, v1::ListDatasetsResponse*) override;
  Reactor* SearchDatasets(Ctx*, const v1::SearchDatasetsRequest*,
                          v1::SearchDatasetsResponse*) override;
  Reactor* PublishDataset(Ctx*, const v1::PublishDatasetRequest*, v1::Dataset*) override;
  Reactor* RetireDataset(Ctx*, const v1::RetireDatasetRequest*, v1::Dataset*) override;
  Reactor* DeleteDataset(Ctx*, const v1::DeleteDatasetRequest*,
                         v1::DeleteDatasetResponse*) override;
  Reactor* ListDatasetHistory(Ctx*, const v1::ListDatasetHistoryRequest*,
                              v1::ListDatasetHistoryResponse*) override;
  Reactor* AddResource(Ctx*, const v1::AddResourceRequest*, v1::Resource*) override;
  Reactor* UpdateResource(Ctx*, const v1::UpdateResourceRequest*, v1::Resource*) override;
  Reactor* RemoveResource(Ctx*, const v1::RemoveResourceRequest*,
                          v1::RemoveResourceResponse*) override;
  Reactor* ListResources(Ctx*, const v1::ListResourcesRequest*,
                         v1::ListResourcesResponse*) override;
  Reactor* ExportCatalogue(Ctx*, const v1::ExportCatalogueRequest*,
                           v1::ExportCatalogueResponse*) override;

 private:
  Catalogue* catalogue_;
  CallRunner calls_;
};

}  // namespace smartby::catalogue

#endif  // SMARTBY_SERVICES_CATALOGUE_CATALOGUE_SERVICE_H_
