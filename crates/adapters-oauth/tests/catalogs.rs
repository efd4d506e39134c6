//! Every provider's action catalog fits ChatGPT: descriptions of at most 300 characters,
//! names fit for a URL, params an object schema with every property described, and the
//! consequential flag on what sends or changes something.

use gptgate_adapters_oauth::{build_actions, ProviderSettings};
use gptgate_domain::ProviderId;
use secrecy::SecretString;

fn settings(id: ProviderId) -> ProviderSettings {
    ProviderSettings {
        id,
        client_id: "c".into(),
        client_secret: SecretString::from("s".to_owned()),
        authorize_url: None,
        token_url: None,
        revoke_url: None,
        api_base_url: None,
        userinfo_url: None,
        scopes: None,
        accounts_servers: None,
    }
}

#[test]
fn every_catalog_fits_chatgpt() {
    let mut total = 0;
    for id in ProviderId::ALL {
        let actions = build_actions(&settings(id)).unwrap();
        assert_eq!(actions.provider(), id);
        for action in actions.catalog() {
            total += 1;
            let name = format!("{id}/{}", action.name);
            assert!(
                action
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{name}"
            );
            assert!(action.description.chars().count() <= 300, "{name}");
            assert_eq!(action.params["type"], "object", "{name}");
            assert_eq!(action.params["additionalProperties"], false, "{name}");
            for (field, property) in action.params["properties"]
                .as_object()
                .into_iter()
                .flatten()
            {
                let described = property["description"].as_str().unwrap_or_default();
                assert!(
                    !described.is_empty() && described.chars().count() <= 700,
                    "{name}.{field} is described"
                );
            }
        }
    }
    assert!(total > 0);
}

#[test]
fn params_schemas_are_self_contained() {
    for id in ProviderId::ALL {
        let actions = build_actions(&settings(id)).unwrap();
        for action in actions.catalog() {
            let text = action.params.to_string();
            assert!(
                !text.contains("$ref") && !text.contains("$defs"),
                "{id}/{}: an operation's schema cannot point into its own definitions: {text}",
                action.name
            );
        }
    }
}
