#include "services/catalogue/catalogue_service.h"

#include "services/runtime/status.h"

namespace smartby::catalogue {

// Who may call what (README.md, "Access"). kResource: the domain loads the dataset and asks the
// caller for the action on it (the runner answers INTERNAL if it never asked); kFiltered: the
// store returns and counts only what the caller may read; kPublic: anyone.
const ServicePolicy& CatalogueServicePolicy() {
  using auth::Action;
  static const auto* policy = new ServicePolicy{
      "smartcity.catalogue.v1.CatalogueService",
      {
          {"CreateDataset", {true, Access::kResource, Action::kCreate}},
          {"GetDataset", {false, Access::kResource, Action::kRead}},
          {"UpdateDataset", {true, Access::kResource, Action::kChangeMetadata}},
          {"ListDatasets", {false, Access::kFiltered, Action::kRead}},
          {"SearchDatasets", {false, Access::kFiltered, Action::kRead}},
          {"PublishDataset", {true, Access::kResource, Action::kPublish}},
          {"RetireDataset", {true, Access::kResource, Action::kRetire}},
          {"DeleteDataset", {true, Access::kResource, Action::kDelete}},
          {"ListDatasetHistory", {false, Access::kResource, Action::kRead}},
          {"AddResource", {true, Access::kResource, Action::kChangeMetadata}},
          {"UpdateResource", {true, Access::kResource, Action::kChangeMetadata}},
          {"RemoveResource", {true, Access::kResource, Action::kChangeMetadata}},
          {"ListResources", {false, Access::kResource, Action::kRead}},
          {"ExportCatalogue", {false, Access::kPublic, Action::kRead}},
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
  return calls_.Unary(
      ctx, "CreateDataset",
      SMARTBY_ASSIGN_RESPONSE(catalogue_->Create(call.caller, request->dataset())));
}

CatalogueService::Reactor* CatalogueService::GetDataset(Ctx* ctx,
                                                        const v1::GetDatasetRequest* request,
                                                        v1::Dataset* response) {
  return calls_.Unary(ctx, "GetDataset",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->Get(call.caller, request->name())));
}

CatalogueService::Reactor* CatalogueService::UpdateDataset(Ctx* ctx,
                                                           const v1::UpdateDatasetRequest* request,
                                                           v1::Dataset* response) {
  return calls_.Unary(ctx, "UpdateDataset",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->Update(
                          call.caller, request->dataset(), request->update_mask())));
}

CatalogueService::Reactor* CatalogueService::ListDatasets(Ctx* ctx,
                                                          const v1::ListDatasetsRequest* request,
                                                          v1::ListDatasetsResponse* response) {
  return calls_.Unary(ctx, "ListDatasets",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->List(call.caller, *request)));
}

CatalogueService::Reactor* CatalogueService::SearchDatasets(
    Ctx* ctx, const v1::SearchDatasetsRequest* request, v1::SearchDatasetsResponse* response) {
  return calls_.Unary(ctx, "SearchDatasets",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->Search(call.caller, *request)));
}

CatalogueService::Reactor* CatalogueService::PublishDataset(
    Ctx* ctx, const v1::PublishDatasetRequest* request, v1::Dataset* response) {
  return calls_.Unary(ctx, "PublishDataset",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->Publish(
                          call.caller, request->name(), request->version())));
}

CatalogueService::Reactor* CatalogueService::RetireDataset(Ctx* ctx,
                                                           const v1::RetireDatasetRequest* request,
                                                           v1::Dataset* response) {
  return calls_.Unary(ctx, "RetireDataset",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->Retire(
                          call.caller, request->name(), request->version(), request->reason())));
}

CatalogueService::Reactor* CatalogueService::DeleteDataset(Ctx* ctx,
                                                           const v1::DeleteDatasetRequest* request,
                                                           v1::DeleteDatasetResponse* response) {
  return calls_.Unary(ctx, "DeleteDataset", [=, this](CallContext& call) {
    return catalogue_->Delete(call.caller, request->name(), request->version());
  });
}

CatalogueService::Reactor* CatalogueService::ListDatasetHistory(
    Ctx* ctx, const v1::ListDatasetHistoryRequest* request,
    v1::ListDatasetHistoryResponse* response) {
  return calls_.Unary(ctx, "ListDatasetHistory",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->History(call.caller, *request)));
}

CatalogueService::Reactor* CatalogueService::AddResource(Ctx* ctx,
                                                         const v1::AddResourceRequest* request,
                                                         v1::Resource* response) {
  return calls_.Unary(ctx, "AddResource",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->AddResource(
                          call.caller, request->dataset_name(), request->resource(),
                          request->version())));
}

CatalogueService::Reactor* CatalogueService::UpdateResource(
    Ctx* ctx, const v1::UpdateResourceRequest* request, v1::Resource* response) {
  return calls_.Unary(ctx, "UpdateResource",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->UpdateResource(
                          call.caller, request->dataset_name(), request->resource(),
                          request->update_mask(), request->version())));
}

CatalogueService::Reactor* CatalogueService::RemoveResource(
    Ctx* ctx, const v1::RemoveResourceRequest* request, v1::RemoveResourceResponse* response) {
  return calls_.Unary(ctx, "RemoveResource", [=, this](CallContext& call) {
    return catalogue_->RemoveResource(call.caller, request->dataset_name(),
                                      request->resource_id(), request->version());
  });
}

CatalogueService::Reactor* CatalogueService::ListResources(
    Ctx* ctx, const v1::ListResourcesRequest* request, v1::ListResourcesResponse* response) {
  return calls_.Unary(ctx, "ListResources",
                      SMARTBY_ASSIGN_RESPONSE(
                          catalogue_->ListResources(call.caller, request->dataset_name())));
}

CatalogueService::Reactor* CatalogueService::ExportCatalogue(
    Ctx* ctx, const v1::ExportCatalogueRequest* request, v1::ExportCatalogueResponse* response) {
  return calls_.Unary(ctx, "ExportCatalogue",
                      SMARTBY_ASSIGN_RESPONSE(catalogue_->Export(call.caller, request->format())));
}

#undef SMARTBY_ASSIGN_RESPONSE

}  // namespace smartby::catalogue
