#include "services/catalogue/catalogue_service.h"

#include "services/runtime/status.h"

namespace smartby::catalogue {

const ServicePolicy& CatalogueServicePolicy() {
  static const auto* policy = new ServicePolicy{
      "smartcity.catalogue.v1.CatalogueService",
      {
          {"CreateDataset", {.mutating = true, .access = Access::kPublic}},
          {"GetDataset", {.mutating = false, .access = Access::kPublic}},
          {"UpdateDataset", {.mutating = true, .access = Access::kPublic}},
          {"ListDatasets", {.mutating = false, .access = Access::kPublic}},
          {"SearchDatasets", {.mutating = false, .access = Access::kPublic}},
          {"PublishDataset", {.mutating = true, .access = Access::kPublic}},
          {"RetireDataset", {.mutating = true, .access = Access::kPublic}},
          {"DeleteDataset", {.mutating = true, .access = Access::kPublic}},
          {"ListDatasetHistory", {.mutating = false, .access = Access::kPublic}},
          {"AddResource", {.mutating = true, .access = Access::kPublic}},
          {"UpdateResource", {.mutating = true, .access = Access::kPublic}},
          {"RemoveResource", {.mutating = true, .access = Access::kPublic}},
          {"ListResources", {.mutating = false, .access = Access::kPublic}},
          {"ExportCatalogue", {.mutating = false, .access = Access::kPublic}},
      }};
  return *policy;
}

CatalogueService::CatalogueService(Catalogue* catalogue, CallRunner calls)
    : catalogue_(catalogue), calls_(std::move(calls)) {}

// Each handler: one domain call; the runner does the rest. Results are written into the
// response only on success.
#define SMARTBY_ASSIGN_RESPONSE(expr)        \
  [=, this](CallContext& call) -> absl::Status { \
    ASSIGN_OR_RETURN(*response, (expr));     \
    return absl::OkStatus();                 \
  }

CatalogueService::Reactor* CatalogueService::CreateDataset(Ctx* ctx,
                                                           const v1::CreateDatasetRequest* request,
                                                           v1::Dataset* response) {
  return calls_.Unary(ctx, "CreateDataset",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->Create(request->dataset(), call.caller.subject())));
}

CatalogueService::Reactor* CatalogueService::GetDataset(Ctx* ctx,
                                                        const v1::GetDatasetRequest* request,
                                                        v1::Dataset* response) {
  return calls_.Unary(ctx, "GetDataset", SMARTBY_ASSIGN_RESPONSE(catalogue_->Get(request->name())));
}

CatalogueService::Reactor* CatalogueService::UpdateDataset(Ctx* ctx,
                                                           const v1::UpdateDatasetRequest* request,
                                                           v1::Dataset* response) {
  return calls_.Unary(ctx, "UpdateDataset",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->Update(
                          request->dataset(), request->update_mask(), call.caller.subject())));
}

CatalogueService::Reactor* CatalogueService::ListDatasets(Ctx* ctx,
                                                          const v1::ListDatasetsRequest* request,
                                                          v1::ListDatasetsResponse* response) {
  return calls_.Unary(ctx, "ListDatasets", SMARTBY_ASSIGN_RESPONSE(catalogue_->List(*request)));
}

CatalogueService::Reactor* CatalogueService::SearchDatasets(
    Ctx* ctx, const v1::SearchDatasetsRequest* request, v1::SearchDatasetsResponse* response) {
  return calls_.Unary(ctx, "SearchDatasets",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->Search(*request)));
}

CatalogueService::Reactor* CatalogueService::PublishDataset(
    Ctx* ctx, const v1::PublishDatasetRequest* request, v1::Dataset* response) {
  return calls_.Unary(ctx, "PublishDataset",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->Publish(
                          request->name(), request->version(), call.caller.subject())));
}

CatalogueService::Reactor* CatalogueService::RetireDataset(Ctx* ctx,
                                                           const v1::RetireDatasetRequest* request,
                                                           v1::Dataset* response) {
  return calls_.Unary(ctx, "RetireDataset",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->Retire(
                          request->name(), request->version(), request->reason(), call.caller.subject())));
}

CatalogueService::Reactor* CatalogueService::DeleteDataset(Ctx* ctx,
                                                           const v1::DeleteDatasetRequest* request,
                                                           v1::DeleteDatasetResponse* response) {
  return calls_.Unary(ctx, "DeleteDataset", [=, this](CallContext& call) {
    return catalogue_->Delete(request->name(), request->version(), call.caller.subject());
  });
}

CatalogueService::Reactor* CatalogueService::ListDatasetHistory(
    Ctx* ctx, const v1::ListDatasetHistoryRequest* request,
    v1::ListDatasetHistoryResponse* response) {
  return calls_.Unary(ctx, "ListDatasetHistory",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->History(*request)));
}

CatalogueService::Reactor* CatalogueService::AddResource(Ctx* ctx,
                                                         const v1::AddResourceRequest* request,
                                                         v1::Resource* response) {
  return calls_.Unary(ctx, "AddResource",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->AddResource(
                          request->dataset_name(), request->resource(), request->version(),
                          call.caller.subject())));
}

CatalogueService::Reactor* CatalogueService::UpdateResource(
    Ctx* ctx, const v1::UpdateResourceRequest* request, v1::Resource* response) {
  return calls_.Unary(ctx, "UpdateResource",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->UpdateResource(
                          request->dataset_name(), request->resource(), request->update_mask(),
                          request->version(), call.caller.subject())));
}

CatalogueService::Reactor* CatalogueService::RemoveResource(
    Ctx* ctx, const v1::RemoveResourceRequest* request, v1::RemoveResourceResponse* response) {
  return calls_.Unary(ctx, "RemoveResource", [=, this](CallContext& call) {
    return catalogue_->RemoveResource(request->dataset_name(), request->resource_id(),
                                      request->version(), call.caller.subject());
  });
}

CatalogueService::Reactor* CatalogueService::ListResources(
    Ctx* ctx, const v1::ListResourcesRequest* request, v1::ListResourcesResponse* response) {
  return calls_.Unary(ctx, "ListResources",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->ListResources(request->dataset_name())));
}

CatalogueService::Reactor* CatalogueService::ExportCatalogue(
    Ctx* ctx, const v1::ExportCatalogueRequest* request, v1::ExportCatalogueResponse* response) {
  return calls_.Unary(ctx, "ExportCatalogue",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->Export(request->format())));
}

#undef SMARTBY_ASSIGN_RESPONSE

}  // namespace smartby::catalogue
