// DCAT-AP-NO 2.2 export: the published Åpen datasets as one Turtle document, the form
// data.norge.no harvests. Pure function; the catalogue chooses which datasets go in.
#ifndef SMARTBY_SERVICES_CATALOGUE_DCAT_EXPORT_H_
#define SMARTBY_SERVICES_CATALOGUE_DCAT_EXPORT_H_

#include <string>
#include <vector>

#include "smartcity/catalogue/v1/catalogue.pb.h"

namespace smartby::catalogue {

struct DcatCatalogueInfo {
  // Every catalogue, dataset and distribution gets a URI under this base (no blank nodes for
  // them), e.g. "https://data.stavanger.kommune.no/" -> <.../catalogue>, <.../datasets/NAME>.
  std::string base_uri = "https://data.smartby.example/";
  std::string title = "Smartby datakatalog";
  std::string description = "Datasett fra kommunens dataplattform Smartby.";
  std::string publisher_name = "Smartby kommune";
  std::string publisher_organization_number;  // 9 digits; publisher URI from Enhetsregisteret
  std::string language = "nb";               // language tag of the literals
};

// Writes the catalogue and each dataset with: dct:title, dct:description, dct:identifier,
// dcat:theme (EU data-theme URIs), exactly one dct:publisher, dct:accessRights (EU access-right
// vocabulary, from the classification); distributions with dcat:accessURL; plus dcat:keyword,
// dcat:contactPoint, dct:spatial, dct:temporal, dct:accrualPeriodicity, dct:format, dct:license
// where known. Every string literal is escaped for Turtle.
std::string ExportDcatTurtle(const std::vector<smartcity::catalogue::v1::Dataset>& datasets,
                             const DcatCatalogueInfo& info);

}  // namespace smartby::catalogue

#endif  // SMARTBY_SERVICES_CATALOGUE_DCAT_EXPORT_H_
