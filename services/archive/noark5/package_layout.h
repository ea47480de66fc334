// Internal: the names the writer and the checker agree on (one place, so they cannot drift).
#ifndef SMARTBY_SERVICES_ARCHIVE_NOARK5_PACKAGE_LAYOUT_H_
#define SMARTBY_SERVICES_ARCHIVE_NOARK5_PACKAGE_LAYOUT_H_

namespace smartby::noark5::layout {

inline constexpr char kAddmlFile[] = "arkivuttrekk.xml";
inline constexpr char kStructureFile[] = "arkivstruktur.xml";
inline constexpr char kChangeLogFile[] = "endringslogg.xml";
inline constexpr char kRunningJournalFile[] = "loependeJournal.xml";
inline constexpr char kPublicJournalFile[] = "offentligJournal.xml";
inline constexpr char kDocumentDir[] = "dokumenter";

inline constexpr char kStructureSchema[] = "arkivstruktur.xsd";
inline constexpr char kCatalogueSchema[] = "metadatakatalog.xsd";
inline constexpr char kChangeLogSchema[] = "endringslogg.xsd";
inline constexpr char kRunningJournalSchema[] = "loependeJournal.xsd";
inline constexpr char kPublicJournalSchema[] = "offentligJournal.xsd";
inline constexpr char kAddmlSchema[] = "addml.xsd";

inline constexpr char kStructureNamespace[] =
    "http://www.arkivverket.no/standarder/noark5/arkivstruktur";
inline constexpr char kChangeLogNamespace[] =
    "http://www.arkivverket.no/standarder/noark5/endringslogg";
inline constexpr char kRunningJournalNamespace[] =
    "http://www.arkivverket.no/standarder/noark5/loependeJournal";
inline constexpr char kPublicJournalNamespace[] =
    "http://www.arkivverket.no/standarder/noark5/offentligJournal";
inline constexpr char kAddmlNamespace[] = "http://www.arkivverket.no/standarder/addml";
inline constexpr char kXsiNamespace[] = "http://www.w3.org/2001/XMLSchema-instance";

// Every XML file a package may hold, with the schema that validates it.
struct XmlFileSchema {
  const char* file;
  const char* schema;
};
inline constexpr XmlFileSchema kXmlFiles[] = {
    {kAddmlFile, kAddmlSchema},
    {kStructureFile, kStructureSchema},
    {kChangeLogFile, kChangeLogSchema},
    {kRunningJournalFile, kRunningJournalSchema},
    {kPublicJournalFile, kPublicJournalSchema},
};

// The official schemas, as shipped in xsd/ (metadatakatalog.xsd is imported by the others).
inline constexpr const char* kAllSchemas[] = {
    kStructureSchema,      kCatalogueSchema,     kChangeLogSchema,
    kRunningJournalSchema, kPublicJournalSchema, kAddmlSchema,
};

}  // namespace smartby::noark5::layout

#endif  // SMARTBY_SERVICES_ARCHIVE_NOARK5_PACKAGE_LAYOUT_H_
