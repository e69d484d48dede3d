package bot

// Knowledge is the association's data that directors and county staff keep
// in a YAML file and load with `nuanjia import`: the branches with their
// contact cards, and the policy FAQs.
type Knowledge struct {
	Branches []Branch `yaml:"branches" json:"branches"`
	FAQs     []FAQ    `yaml:"faqs" json:"faqs"`
}

// Branch is one association: the county one or a migrant-population branch.
type Branch struct {
	ID        string     `yaml:"id" json:"id" db:"id"`
	Name      string     `yaml:"name" json:"name" db:"name"`
	Places    []string   `yaml:"places" json:"places"` // names members use for where it is
	Lat       float64    `yaml:"lat" json:"lat" db:"lat"`
	Lng       float64    `yaml:"lng" json:"lng" db:"lng"`
	Phone     string     `yaml:"phone" json:"phone" db:"phone"`
	Address   string     `yaml:"address" json:"address" db:"address"`
	Hours     string     `yaml:"hours" json:"hours" db:"hours"`
	Directors []Director `yaml:"directors" json:"directors"`
}

// Director is a branch's or the county's director.
type Director struct {
	Name   string `yaml:"name" json:"name" db:"name"`
	OpenID string `yaml:"openid" json:"openid" db:"openid"`
	Phone  string `yaml:"phone" json:"phone" db:"phone"`
	County bool   `yaml:"county" json:"county" db:"county"`
}

// FAQ is one policy answer.
type FAQ struct {
	ID       string   `yaml:"id" json:"id" db:"id"`
	Question string   `yaml:"question" json:"question" db:"question"`
	Answer   string   `yaml:"answer" json:"answer" db:"answer"`
	Keywords []string `yaml:"keywords" json:"keywords"`
	Updated  string   `yaml:"updated" json:"updated" db:"updated"` // YYYY-MM-DD
	Source   string   `yaml:"source" json:"source" db:"source"`
}

// CountyBranchID is the id of the county association, the branch of last resort.
const CountyBranchID = "county"
