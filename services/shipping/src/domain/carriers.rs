//! Which carrier takes a shipment: a table from destination country to carrier, with a
//! default for every other country. Configured (`--carriers "US=UPS,GB=Royal Mail,*=DHL"`)
//! because which carriers a shop has contracts with is the shop's business, not the code's.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carriers {
    by_country: BTreeMap<String, String>,
    default: String,
}

impl Carriers {
    /// Parses `CC=Name,…,*=Name`; every problem is named.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut by_country = BTreeMap::new();
        let mut default = None;
        let mut problems = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((country, name)) = entry.split_once('=') else {
                problems.push(format!("{entry:?} is not COUNTRY=Carrier"));
                continue;
            };
            let (country, name) = (country.trim(), name.trim());
            if name.is_empty() || name.len() > 64 {
                problems.push(format!("{entry:?}: the carrier's name must be 1-64 characters"));
                continue;
            }
            if country == "*" {
                if default.replace(name.to_string()).is_some() {
                    problems.push("`*` is given twice".to_string());
                }
            } else if country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase()) {
                if by_country.insert(country.to_string(), name.to_string()).is_some() {
                    problems.push(format!("{country} is given twice"));
                }
            } else {
                problems.push(format!("{country:?} is not an ISO 3166-1 alpha-2 code in upper case, nor `*`"));
            }
        }
        match default {
            None => problems.push("no default carrier (`*=Name`) for the other countries".to_string()),
            Some(_) if !problems.is_empty() => {}
            Some(default) => return Ok(Self { by_country, default }),
        }
        Err(problems.join("; "))
    }

    /// The carrier for a shipment to `country_code`.
    pub fn for_country(&self, country_code: &str) -> &str {
        self.by_country.get(country_code).unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_have_their_carrier_and_the_rest_the_default() {
        let carriers = Carriers::parse("US=UPS, GB=Royal Mail,*=DHL Express").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(carriers.for_country("US"), "UPS");
        assert_eq!(carriers.for_country("GB"), "Royal Mail");
        assert_eq!(carriers.for_country("FR"), "DHL Express");
    }

    #[test]
    fn every_problem_is_named() {
        let e = Carriers::parse("us=UPS,GB,DE=,US=UPS").unwrap_err();
        for part in ["\"us\"", "\"GB\" is not", "\"DE=\"", "no default carrier"] {
            assert!(e.contains(part), "{part} in {e}");
        }
        assert!(Carriers::parse("*=A,*=B").unwrap_err().contains("twice"));
        assert!(Carriers::parse("").is_err());
    }
}
